"""The benchmark harness behind `bench/run.py`: processes, databases, load tools, report."""
