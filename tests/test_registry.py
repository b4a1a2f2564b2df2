import pytest

from egoimu_jax.registry import Registry


def test_register_and_lazy():
  reg = Registry("thing")

  @reg.register("a")
  def make_a():
    return "a"

  reg.lazy("join", "os.path:join")
  assert reg.get("a") is make_a
  assert reg.get("join")("x", "y") == "x/y"
  assert list(reg.names()) == ["a", "join"]
  with pytest.raises(KeyError, match="unknown thing 'b'"):
    reg.get("b")
  with pytest.raises(KeyError, match="twice"):
    reg.register("a")(lambda: None)


def test_lazy_table_at_construction():
  reg = Registry("thing", lazy={"join": "os.path:join",
                                "base": "os.path:basename"})
  assert list(reg.names()) == ["base", "join"] and "join" in reg
  assert reg.get("base")("a/b") == "b"
  with pytest.raises(ValueError, match="module:attribute"):
    Registry("thing", lazy={"bad": "os.path.join"})
