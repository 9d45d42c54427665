"""The machine and the process a run lives in: devices and cores (machine), the per-worker
probe run before pytest starts, the garbage collector around imports (heap), framework log
lines, the import clock and the working folder left as found.
"""
