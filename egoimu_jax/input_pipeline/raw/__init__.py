"""Raw datasets in: the layout (``layout``: index, segments, workers,
labels), IMU readers by file suffix (``imu_formats``), resampling and unit
checks (``imu_resample``), video decoding (``video_decode``), WebDataset tars
(``webdataset``), windowing (``windows``) and one clip's validated ingest
(``ingest``); ``memory_dataset`` feeds already-windowed arrays."""
