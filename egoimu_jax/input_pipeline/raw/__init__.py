"""Raw datasets in: the raw source interface and its registry (``source``:
``open_source`` by ``data.layout``), the ``index_csv`` layout
(``index_csv``; its tables and ids in ``tables`` and ``ids``, clip-file
fingerprints in ``fingerprint``), IMU readers by file suffix
(``imu_formats``), resampling and unit checks (``imu_resample``), video
decoding (``video_decode``), WebDataset tars (``webdataset``), windowing
(``windows``) and one clip's validated ingest (``ingest``); the ``memory``
source (``memory_dataset``) feeds already-windowed arrays."""
