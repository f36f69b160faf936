"""Faults found by driving the node from outside (issue 30), where the process and its exit status matter:
the node runs as `python -m rman_ros.ros.tracker_node` (what the launch file and the executable run)."""
import random
import signal
import subprocess
import threading

import pytest

from test_node_support import Client, wait_for

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg", reason="vision_msgs not importable: source install/setup.bash")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from rman_ros.bag import launcher  # noqa: E402

START_S = 240  # a node start imports torch and loads the model: slow on a loaded 2-core machine


def _ns(tag):
    return f"{tag}{random.randint(0, 1 << 30)}"


def _start(tmp_path, name, params, namespace=None, autostart=True):
    log = tmp_path / f"{name}.log"
    proc = launcher.start_node(log_path=log, params_file=None, namespace=namespace,
                               params={"device": "cpu", "tracker.num_threads": 1, "autostart": autostart,
                                       **params})
    return proc, log


@pytest.fixture
def client():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    made = []

    def make(namespace):
        c = Client(ctx, namespace=namespace)
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(c.node)
        th = threading.Thread(target=ex.spin, daemon=True)
        th.start()
        made.append((c, ex, th))
        return c

    yield make
    for c, ex, th in made:
        ex.shutdown(timeout_sec=5)
        c.node.destroy_node()
        th.join(timeout=5)
    rclpy.shutdown(context=ctx)


def _call(cli, request, timeout=30.0):
    assert cli.wait_for_service(timeout_sec=timeout), f"{cli.srv_name} not available"
    fut = cli.call_async(request)
    wait_for(fut.done, timeout, what=f"answer of {cli.srv_name}")
    return fut.result()


def test_a_malformed_parameter_request_does_not_kill_the_node(tmp_path, client):
    """A ParameterValue.type that no type has (99) makes rclpy's parameter service raise inside the
    executor. The node logs it, counts it in /diagnostics, and keeps answering (fault 2)."""
    from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterValue
    from rcl_interfaces.srv import GetParameters, SetParameters, SetParametersAtomically

    ns = _ns("faultsrv")
    proc, log = _start(tmp_path, "node", {}, namespace=ns, autostart=False)  # no model: starts fast
    try:
        c = client(ns)
        node = f"/{ns}/rman_tracker"
        set_cli = c.node.create_client(SetParameters, f"{node}/set_parameters")
        atomic_cli = c.node.create_client(SetParametersAtomically, f"{node}/set_parameters_atomically")
        get_cli = c.node.create_client(GetParameters, f"{node}/get_parameters")
        bad = [ParameterMsg(name="label", value=ParameterValue(type=99))]
        for cli, request in ((set_cli, SetParameters.Request(parameters=bad)),
                             (atomic_cli, SetParametersAtomically.Request(parameters=bad))):
            assert cli.wait_for_service(timeout_sec=START_S), log.read_text()
            cli.call_async(request)  # never answered: the service callback raised
        wait_for(lambda: log.read_text().count("[callback_error]") >= 1 or proc.poll() is not None, 60,
                 what="the node reporting the callback error")
        good = [ParameterMsg(name="label", value=ParameterValue(type=4, string_value="after"))]
        res = _call(set_cli, SetParameters.Request(parameters=good))
        assert res.results[0].successful
        res = _call(get_cli, GetParameters.Request(names=["label"]))
        assert res.values[0].string_value == "after"
        assert proc.poll() is None, log.read_text()
        text = log.read_text()
        assert "ValueError" in text and "the node goes on" in text
    finally:
        rc = launcher.stop_node(proc)
    assert rc == 0, log.read_text()


BAD_START_VALUES = [
    ({"tracker.n_candidates": 0}, "tracker.n_candidates"),
    ({"label": 5}, "label"),
    ({"tracker.n_candidates": 12.5}, "tracker.n_candidates"),
    ({"score_threshold": "abc"}, "score_threshold"),
    ({"tracker.tau2": 0.9}, "tracker.tau2"),
    ({"reliability": "sometimes"}, "reliability"),
    ({"preset": "no_such_preset"}, "preset"),
]


def test_bad_start_up_values_exit_non_zero_with_one_error_naming_the_parameter(tmp_path):
    """Each bad start-up value: one ERROR line naming the parameter, no traceback, exit status 1 under
    autostart (fault 4e). The processes run side by side; each exits on its own."""
    cases = BAD_START_VALUES + ([({"device": "cuda:7"}, "cuda:7")] if not _has_cuda_device(7) else [])
    procs = [(_start(tmp_path, f"bad{i}", params), name) for i, (params, name) in enumerate(cases)]
    try:
        for (proc, log), name in procs:
            try:
                rc = proc.wait(timeout=START_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"node with a bad {name} did not exit:\n{log.read_text()}")
            text = log.read_text()
            errors = [ln for ln in text.splitlines() if "[ERROR]" in ln]
            assert rc == 1, text
            assert len(errors) == 1 and name in errors[0], text
            assert "Traceback" not in text, text
    finally:
        for (proc, log), _ in procs:
            launcher.stop_node(proc)


def _has_cuda_device(index):
    import torch

    return torch.cuda.is_available() and torch.cuda.device_count() > index


def _maps(pid):
    try:
        with open(f"/proc/{pid}/maps", encoding="ascii", errors="ignore") as fh:
            return fh.read()
    except OSError:
        return ""


def _torch_importing(proc, log):
    # torch's library is mapped when its import starts, after main() caught the signals: the signal then
    # lands in the imports or later, and any of those moments must end in a clean exit
    return "libtorch" in _maps(proc.pid)


def _configured(proc, log):
    return "configured" in log.read_text()  # the model loads next


def _waiting(proc, log):
    return "autostart=false" in log.read_text()


@pytest.mark.parametrize("moment, autostart", [(_torch_importing, True), (_configured, True), (_waiting, False)],
                         ids=["while_torch_is_imported", "while_the_model_loads", "idle_after_autostart_false"])
def test_sigint_exits_cleanly(tmp_path, moment, autostart):
    """Ctrl-C at any moment of the start-up, including the first seconds while torch is imported, ends the
    node with status 0 and no traceback (launch item)."""
    proc, log = _start(tmp_path, "node", {}, autostart=autostart)
    try:
        wait_for(lambda: moment(proc, log) or proc.poll() is not None, START_S, period=0.005,
                 what=moment.__name__)
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=120)
    finally:
        launcher.stop_node(proc)
    text = log.read_text()
    assert rc == 0 and "Traceback" not in text and "KeyboardInterrupt" not in text, (rc, text)
