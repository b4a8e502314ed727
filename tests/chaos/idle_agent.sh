#!/bin/sh
# An "agent" that reads nothing, for the chaos run's own test (ctest
# chaos.detects_loss): the run must report the lines it wrote as lost.
exec sleep 3600
