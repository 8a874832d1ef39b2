"""The course's benchmarks: paper reproductions and speed, one command each (see README.md beside this file).

    python -m benchmarks list
    python -m benchmarks run NAME [--device auto] [NAME's options]
"""
