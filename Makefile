# rman_ros developer entry points. See README.md.
.PHONY: setup test demo bench clean help

PYTEST_ARGS ?=
DEMO_OUT ?= demo_output

help:
	@echo "make demo   set up if needed, then run the tracker node on the embedded default video"
	@echo "make test   set up if needed, then run the whole test suite"
	@echo "make setup  create .venv, build vision_msgs (if missing) and rman_ros (idempotent)"
	@echo "make clean  remove build outputs (keeps .venv)"

setup:
	@bash tools/bootstrap.sh

test: setup
	@bash tools/run_tests.sh $(PYTEST_ARGS)

demo: setup
	@bash -c 'set -e; . install/setup.bash; export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST; \
	  export ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$((RANDOM % 100 + 1))}; \
	  python -m rman_ros.demo --out "$(DEMO_OUT)"'

clean:
	rm -rf build install log
