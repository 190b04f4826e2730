"""The streaming detection job: the pure Sigma and correlation engines inside a PyFlink DataStream job.

Modules: `config` (what a job run needs), `rules` (rule changes, validation, compiled bundles; pure),
`alerts` (alert building and deterministic ids; pure), `functions` (the Flink operators), `job` (the
one job definition for the embedded MiniCluster and a cluster), `bridge` (the platform side: spool
events exported to the job's input directory, committed alert files moved into the spool's `alerts`
topic, rule changes written for the broadcast stream).
"""
