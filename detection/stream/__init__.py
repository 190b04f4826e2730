"""The streaming detection job: the detection loop (`detection.loop`) inside a PyFlink DataStream job.

Modules: `config` (what a job run needs), `batch` (pointer lines, batch files, markers; pure),
`rules` (rule changes and applying them; pure), `correlate` (correlations in bucket state; pure),
`functions` (the Flink operators), `job` (the one job definition for the embedded MiniCluster and a
cluster), `tls` (the embedded cluster's REST key). The platform side, which holds the spool, is
`soc_api.stream`.
"""
