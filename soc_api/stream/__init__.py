"""The platform side of the streaming detection job (`detection.stream`): it holds the spool.

Modules: `exporter` (spool events to the job's input directory), `committer` (committed alerts into
the spool's `alerts` topic, progress from batch markers, health records), `rules` (rule files to the
job's broadcast input), `runner` (start, tick, status, restart and stop of the job).
"""
