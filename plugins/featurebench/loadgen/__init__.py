"""The load generator: the AIPerf command line and environment for one load point and trial (`aiperf`)."""
