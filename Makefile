# rman_ros developer entry points. See README.md.
.PHONY: setup test demo bench bench-speed protocol bench-node clean help

PYTEST_ARGS ?=
DEMO_OUT ?= demo_output
FOLLOW_OUT ?= follow_demo_output
FOLLOW_ARGS ?=
DATA ?= ../shared/data
ENV = . install/setup.bash; export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST; \
  export ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$((RANDOM % 100 + 1))};

help:
	@echo "make demo   set up if needed, then run the tracker node on the embedded default video"
	@echo "make test   set up if needed, then run the whole test suite"
	@echo "make setup  create .venv, build vision_msgs (if missing) and rman_ros (idempotent)"
	@echo "make bench  one-pass benchmark of rman and its peers (CSRT, MIL, NanoTrack) on every sequence of DATA=$(DATA) -> out/bench"
	@echo "make bench-speed  sync speed of rman, its presets and peers on 5 sequences, 2 threads, one process -> out/speed"
	@echo "make protocol CANDIDATE=rman-x  paired tune/check comparison of out/bench/CANDIDATE against out/bench/rman"
	@echo "make bench-node  30 Hz replay of a real sequence through the node (latency, drops, RSS) -> out/bench_node"
	@echo "make clean  remove build outputs (keeps .venv)"
	@echo "make demo-follow  closed-loop follower demo on a simulated pan camera -> FOLLOW_OUT=$(FOLLOW_OUT) (video + plot)"

setup:
	@bash tools/bootstrap.sh

test: setup
	@bash tools/run_tests.sh $(PYTEST_ARGS)

demo: setup
	@bash -c 'set -e; $(ENV) python -m rman_ros.demo --out "$(DEMO_OUT)"'

bench: setup
	@bash -c 'set -e; $(ENV) \
	  python -m rman_ros.bench run --dataset-root "$(DATA)" --trackers rman,csrt,mil,nanotrack --out out/bench --workers 2; \
	  python -m rman_ros.bench report --results out/bench --dataset-root "$(DATA)"'

SPEED_SEQS ?= Crossing,David,Deer,Bolt2,Football1
SPEED_TARGET ?= 0.6
bench-speed: setup
	@bash -c 'set -e; $(ENV) \
	  python -m rman_ros.bench run --dataset-root "$(DATA)" --sequences $(SPEED_SEQS) --trackers csrt,nanotrack,rman,rman:fast,rman:baseline \
	    --out out/speed --workers 1 --threads 2; \
	  python -m rman_ros.bench report --results out/speed --dataset-root "$(DATA)" --sequences $(SPEED_SEQS) \
	    --speed-target $(SPEED_TARGET)'

CANDIDATE ?=
protocol: setup
	@bash -c 'set -e; $(ENV) [ -n "$(CANDIDATE)" ] || { echo "usage: make protocol CANDIDATE=<result folder in out/bench>"; exit 2; }; \
	  python -m rman_ros.bench protocol --results out/bench --dataset-root "$(DATA)" --candidate "$(CANDIDATE)" --peers csrt,nanotrack'

bench-node: setup
	@bash -c 'set -e; $(ENV) \
	  [ -d out/biker_bag ] || python -m rman_ros.bag record-sequence "$(DATA)/otb/Biker" out/biker_bag; \
	  python -m rman_ros.bag bench out/biker_bag --frames 3000 --fps 30 --out out/bench_node'

clean:
	rm -rf build install log

.PHONY: demo-follow
demo-follow: setup
	@bash -c 'set -e; $(ENV) python -m rman_ros.follow.sim_demo --out "$(FOLLOW_OUT)" $(FOLLOW_ARGS)'
