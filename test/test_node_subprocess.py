"""The node as a real subprocess, started like the launch file does: the package's params file,
a namespace and remapped topics; talked to over loopback DDS from this process."""
import random
import threading
import time

import pytest

from test_node_support import Client, image_msg, synthetic_frame, wait_for

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg", reason="vision_msgs not importable: source install/setup.bash")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from rman_ros.bag import launcher  # noqa: E402

NS = f"robot{random.randint(0, 1 << 30)}"  # private: parallel test runs may share the domain
IMAGE = f"/{NS}/camera/image_raw"
INIT = f"/{NS}/target_box"
T0 = 1_700_000_500 * 1_000_000_000


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    log = tmp_path_factory.mktemp("node") / "node.log"
    proc = launcher.start_node(log_path=log, params_file=launcher.DEFAULT_PARAMS,
                               params={"device": "cpu", "tracker.num_threads": 1},
                               remaps={"image": IMAGE, "init": INIT}, namespace=NS)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    client = Client(ctx, namespace=NS, image_topic=IMAGE, init_topic=INIT)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(client.node)
    th = threading.Thread(target=ex.spin, daemon=True)
    th.start()
    try:
        wait_for(lambda: proc.poll() is not None or client.image_pub.get_subscription_count() > 0, 120,
                 what="node subprocess")
        assert proc.poll() is None, "node exited"
        client.wait_connected(timeout=30)
    except AssertionError as exc:
        launcher.stop_node(proc)
        raise AssertionError(f"node did not come up ({exc}):\n" + log.read_text())
    yield proc, client, ctx, log
    ex.shutdown(timeout_sec=5)
    client.node.destroy_node()
    rclpy.shutdown(context=ctx)
    th.join(timeout=5)
    if proc.poll() is None:
        launcher.stop_node(proc)


def test_params_file_loaded_and_descriptors(running):
    from rclpy.parameter_client import AsyncParameterClient

    proc, client, ctx, log = running
    pc = AsyncParameterClient(client.node, f"/{NS}/rman_tracker")
    assert pc.wait_for_services(timeout_sec=10)
    fut = pc.get_parameters(["label", "reliability", "tracker.n_candidates", "tracker.update_mode", "device"])
    wait_for(fut.done, 10, what="get_parameters")
    values = [v for v in fut.result().values]
    assert values[0].string_value == "target" and values[1].string_value == "best_effort"
    assert values[2].integer_value == 256 and values[3].string_value == "async"
    assert values[4].string_value == "cpu"  # -p after --params-file overrides the file
    fut = pc.describe_parameters(["tracker.K", "tracker.n_candidates"])
    wait_for(fut.done, 10, what="describe_parameters")
    k, n = fut.result().descriptors
    assert k.read_only and k.description and not n.read_only and n.integer_range[0].to_value == 10000


def test_track_through_remapped_topics_with_real_config(running):
    proc, client, ctx, log = running
    rgb0, box0 = synthetic_frame(0)
    client.send_frame(rgb0, T0, frame_id="cam_sub")
    init = client.send_init(box0, T0, timeout=120)
    assert init.header.frame_id == "cam_sub" and init.detections[0].id == "1"
    for i in range(1, 4):
        rgb, _ = synthetic_frame(i)
        t = T0 + i * 33_000_000
        arr = client.send_frame(rgb, t, frame_id="cam_sub", timeout=60)
        assert arr.header.stamp.sec * 10**9 + arr.header.stamp.nanosec == t
        assert arr.header.frame_id == "cam_sub"
        for d in arr.detections:
            assert d.header == arr.header and d.id == "1"


def test_best_effort_and_reliable_publishers_both_reach_node(running):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    proc, client, ctx, log = running
    for k, rel in enumerate((ReliabilityPolicy.BEST_EFFORT, ReliabilityPolicy.RELIABLE)):
        pub = client.node.create_publisher(Image, IMAGE, QoSProfile(depth=1, reliability=rel))
        wait_for(lambda: pub.get_subscription_count() > 0, 10, what=f"{rel.name} publisher matched")
        t = T0 + (100 + k) * 10**9
        rgb, _ = synthetic_frame(5)

        def got():
            pub.publish(image_msg(rgb, t))  # best effort may lose the very first message: resend
            return client.det_for(t)

        wait_for(got, 30, period=0.5, what=f"detections from a {rel.name} publisher")
        client.node.destroy_publisher(pub)


def test_diagnostics_at_least_1hz(running):
    proc, client, ctx, log = running
    n0 = len(client.diagnostics)
    time.sleep(3.2)
    mine = client.diagnostics[n0:]
    assert len(mine) >= 3
    keys = {kv.key for kv in mine[-1].values}
    assert {"input_rate_hz", "processed_rate_hz", "latency_ms_p50", "frames_dropped", "state", "score",
            "updates_done", "device"} <= keys


def test_sigint_clean_exit(running):
    proc, client, ctx, log = running
    assert proc.poll() is None, log.read_text()
    assert launcher.stop_node(proc) == 0, log.read_text()
    text = log.read_text()
    assert "Traceback" not in text, text
