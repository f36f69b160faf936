# rman_ros developer entry points. See README.md.
.PHONY: setup test demo bench bench-node clean help

PYTEST_ARGS ?=
DEMO_OUT ?= demo_output
DATA ?= ../shared/data
ENV = . install/setup.bash; export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST; \
  export ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$((RANDOM % 100 + 1))};

help:
	@echo "make demo   set up if needed, then run the tracker node on the embedded default video"
	@echo "make test   set up if needed, then run the whole test suite"
	@echo "make setup  create .venv, build vision_msgs (if missing) and rman_ros (idempotent)"
	@echo "make bench  OTB one-pass benchmark of rman and OpenCV peers on DATA=$(DATA) -> out/bench"
	@echo "make bench-node  30 Hz replay of a real sequence through the node (latency, drops, RSS) -> out/bench_node"
	@echo "make clean  remove build outputs (keeps .venv)"

setup:
	@bash tools/bootstrap.sh

test: setup
	@bash tools/run_tests.sh $(PYTEST_ARGS)

demo: setup
	@bash -c 'set -e; $(ENV) python -m rman_ros.demo --out "$(DEMO_OUT)"'

bench: setup
	@bash -c 'set -e; $(ENV) \
	  python -m rman_ros.bench run --dataset-root "$(DATA)/otb" --trackers rman,csrt,mil --out out/bench --workers 2; \
	  python -m rman_ros.bench report --results out/bench --dataset-root "$(DATA)/otb"'

bench-node: setup
	@bash -c 'set -e; $(ENV) \
	  [ -d out/biker_bag ] || python -m rman_ros.bag record-sequence "$(DATA)/otb/Biker" out/biker_bag; \
	  python -m rman_ros.bag bench out/biker_bag --frames 3000 --fps 30 --out out/bench_node'

clean:
	rm -rf build install log
