"""Pure-logic tests of the ROS glue: conversions, frame buffer, parameters, diagnostics helpers.

Needs only the message packages (no tracker, no running node)."""
import math
import warnings

import numpy as np
import pytest
import torch

from rman_ros.ros import conversions as conv
from rman_ros.ros.diagnostics import ProblemLog, RateMeter, WindowStats, build_status
from rman_ros.ros.frame_buffer import Frame, FrameBuffer
from rman_ros.core.runtime import check_device_name, resolve_device
from rman_ros.ros.params import all_param_specs, check_value, descriptor, torch_threads


def _rgb(h=5, w=7):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("enc", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_color_roundtrip(enc):
    rgb = _rgb()
    msg = conv.rgb_to_image_msg(rgb, encoding=enc)
    assert msg.encoding == enc and msg.height == 5 and msg.width == 7
    np.testing.assert_array_equal(conv.image_msg_to_rgb(msg), rgb)


@pytest.mark.parametrize("enc", ["mono8", "mono16"])
def test_mono_to_gray_rgb(enc):
    rgb = _rgb()
    out = conv.image_msg_to_rgb(conv.rgb_to_image_msg(rgb, encoding=enc))
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    gray = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).round()
    assert np.abs(out[..., 0].astype(int) - gray).max() <= 1


def test_mono16_big_endian_and_padding():
    from sensor_msgs.msg import Image

    vals = np.array([[0, 256, 65535], [512, 1024, 2048]], dtype=">u2")
    row = vals.tobytes()
    padded = b"".join(row[i * 6:(i + 1) * 6] + b"\0\0" for i in range(2))  # step 8 > 6
    msg = Image(height=2, width=3, encoding="mono16", is_bigendian=1, step=8, data=padded)
    out = conv.image_msg_to_rgb(msg)
    np.testing.assert_array_equal(out[..., 0], (vals.astype(np.uint16) >> 8).astype(np.uint8))


def test_row_padding_rgb8():
    from sensor_msgs.msg import Image

    rgb = _rgb(3, 4)
    data = b"".join(rgb[r].tobytes() + b"\xff" * 4 for r in range(3))
    msg = Image(height=3, width=4, encoding="rgb8", step=16, data=data)
    np.testing.assert_array_equal(conv.image_msg_to_rgb(msg), rgb)


@pytest.mark.parametrize("kind, kw", [
    ("encoding", dict(encoding="yuv422", height=2, width=2, step=4, data=b"\0" * 8)),
    ("encoding", dict(encoding="32FC1", height=2, width=2, step=8, data=b"\0" * 16)),
    ("size", dict(encoding="rgb8", height=0, width=4, step=12, data=b"")),
    ("size", dict(encoding="rgb8", height=4, width=0, step=0, data=b"")),
    ("step", dict(encoding="rgb8", height=2, width=4, step=6, data=b"\0" * 12)),
    ("data", dict(encoding="rgb8", height=4, width=4, step=12, data=b"\0" * 47)),
])
def test_bad_images_raise(kind, kw):
    from sensor_msgs.msg import Image

    with pytest.raises(conv.ImageError) as ei:
        conv.image_msg_to_rgb(Image(**kw))
    assert ei.value.kind == kind


def test_compressed_roundtrip():
    import cv2
    from sensor_msgs.msg import CompressedImage

    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[5:15, 10:20] = (200, 50, 10)
    ok, png = cv2.imencode(".png", rgb[:, :, ::-1])
    assert ok
    out = conv.compressed_msg_to_rgb(CompressedImage(format="png", data=png.tobytes()))
    np.testing.assert_array_equal(out, rgb)
    with pytest.raises(conv.ImageError):
        conv.compressed_msg_to_rgb(CompressedImage(format="jpeg", data=b"not an image"))


def test_box_roundtrip_and_labels():
    from std_msgs.msg import Header

    h = Header(frame_id="cam")
    h.stamp.sec, h.stamp.nanosec = 12, 345
    det = conv.box_to_detection((10.0, 20.0, 30.0, 40.0), h, 3, "face", 1.7)
    assert det.bbox.center.position.x == 25.0 and det.bbox.center.position.y == 40.0
    assert (det.bbox.size_x, det.bbox.size_y) == (30.0, 40.0)
    assert det.id == "3" and det.results[0].hypothesis.class_id == "face"
    assert det.results[0].hypothesis.score == 1.0  # clipped to [0, 1]
    assert det.header.stamp.sec == 12 and det.header.frame_id == "cam"
    assert conv.detection_to_box(det, (100, 100)) == (10.0, 20.0, 30.0, 40.0)


@pytest.mark.parametrize("box, kind", [
    ((math.nan, 5, 10, 10), "nan"), ((5, 5, math.inf, 10), "nan"), ((5, 5, 0, 10), "size"),
    ((5, 5, 10, -3), "size"), ((200, 5, 10, 10), "outside"), ((-50, -50, 10, 10), "outside"),
])
def test_bad_boxes(box, kind):
    from std_msgs.msg import Header

    det = conv.make_init_detection(box, Header()) if all(map(math.isfinite, box)) else None
    if det is None:
        det = conv.make_init_detection((0, 0, 1, 1), Header())
        det.bbox.center.position.x, det.bbox.size_x = float(box[0]), float(box[2])
    with pytest.raises(conv.BoxError) as ei:
        conv.detection_to_box(det, (100, 120))
    assert ei.value.kind == kind


def test_stamp_conversions():
    assert conv.stamp_to_ns(conv.ns_to_stamp(1_700_000_000_123_456_789)) == 1_700_000_000_123_456_789


def test_frame_buffer_match_and_backwards():
    buf = FrameBuffer(3)
    for i in range(5):
        assert buf.push(Frame(1000 + 100 * i, None, None, i))
    assert len(buf) == 3 and buf.latest().seq == 4
    assert buf.find(1290, 20).seq == 3
    assert buf.find(1290, 5) is None
    assert buf.find(1000, 50) is None  # evicted
    assert not buf.push(Frame(500, None, None, 9))  # stamps went backwards: cleared
    assert len(buf) == 1 and buf.latest().seq == 9
    with pytest.raises(ValueError):
        FrameBuffer(0)


def test_param_specs_cover_config_with_descriptors():
    from rman_ros.core.config import RMANConfig

    specs = {s.name: s for s in all_param_specs(RMANConfig)}
    info = RMANConfig.field_info()
    for field_name, md in info.items():
        name = "device" if field_name == "device" else f"tracker.{field_name}"
        assert name in specs, name
        d = descriptor(specs[name])
        assert d.description
        assert d.read_only == (not md["runtime"])
        if md["range"] is not None and md["type"] in ("int", "float"):
            rng = d.integer_range or d.floating_point_range
            assert (rng[0].from_value, rng[0].to_value) == tuple(md["range"])
    for name in ("label", "score_threshold", "reliability", "init_stamp_tolerance", "buffer_size"):
        assert name in specs
    assert specs["tracker.update_mode"].default == "async"
    assert check_value(specs["reliability"], "sometimes")
    assert check_value(specs["tracker.n_candidates"], 0)
    assert check_value(specs["tracker.n_candidates"], 64) is None
    assert check_value(specs["tracker.lr_update"], 1) is None  # int accepted for a double


def test_device_resolution():
    """One resolver for the tracker, the node and device_check (rman_ros.core.runtime)."""
    assert check_device_name("cuda:1") is None and check_device_name("auto") is None
    assert "expected auto, cpu, cuda or cuda:N" in check_device_name("gpu")
    assert check_device_name("cuda:x")
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="expected auto"):
        resolve_device("bogus")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:7")


def test_torch_threads_split_the_cores_only_for_background_updates_on_cpu():
    assert torch_threads(3, "cpu", "async", 8) == 3  # an explicit count always wins
    assert torch_threads(0, "cpu", "async", 2) == 1  # frame thread + training thread on 2 cores
    assert torch_threads(0, "cpu", "deferred", 8) == 4
    assert torch_threads(0, "cpu", "async", 1) == 1
    assert torch_threads(0, "cpu", "sync", 8) == 8  # training inside track(): all of them
    assert torch_threads(0, "cuda", "async", 8) == 8
    assert torch_threads(0, "cuda:1", "async", 0) == 1


def test_stats_and_status():
    r = RateMeter(window_s=10)
    for i in range(11):
        r.tick(now=100.0 + i * 0.1)
    assert abs(r.rate(now=101.0) - 10.0) < 1e-6
    w = WindowStats()
    for v in range(1, 101):
        w.add(v)
    s = w.summary()
    assert s["n"] == 100 and abs(s["p50"] - 50.5) < 1e-9
    log = ProblemLog()
    st = build_status("n", "cpu", {"a": 1.0}, "idle", log.active())
    assert st.level == b"\x00"
    log.report(1, "image_encoding", "bad")
    st = build_status("n", "cpu", {"a": 1.0}, "idle", log.active())
    assert st.level == b"\x01" and st.message.startswith("image_encoding")
    assert log.snapshot() == {"image_encoding": 1}


def test_params_file_in_sync_with_declarations():
    """config/tracker.yaml holds exactly the declared parameters, with valid values."""
    from pathlib import Path

    from rman_ros.core.config import RMANConfig
    from rman_ros.ros.params import config_from_params, params_from_file

    path = Path(__file__).resolve().parents[1] / "config" / "tracker.yaml"
    flat = params_from_file(path)
    specs = {s.name: s for s in all_param_specs(RMANConfig)}
    hint = "regenerate with `python -m rman_ros.ros.params config/tracker.yaml`"
    unknown = set(flat) - set(specs)  # the node would ignore these silently: a real bug
    assert not unknown, f"{sorted(unknown)} are not parameters of the node; {hint}"
    missing = set(specs) - set(flat)  # harmless (the declared default applies) but undocumented
    if missing:
        warnings.warn(f"config/tracker.yaml lacks {sorted(missing)}; {hint}")
    for name, value in flat.items():
        assert check_value(specs[name], value) is None, name
    cfg = config_from_params(flat, RMANConfig)
    assert cfg.update_mode == "async" and cfg.device == "auto"


def test_frame_order_pingpong():
    from rman_ros.bag.play import frame_order

    assert [frame_order(i, 4, False) for i in range(6)] == [0, 1, 2, 3, 0, 1]
    assert [frame_order(i, 4, True) for i in range(9)] == [0, 1, 2, 3, 2, 1, 0, 1, 2]
