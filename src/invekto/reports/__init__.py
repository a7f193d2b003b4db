"""Reports: what happened in conversations, derived into report facts and hourly rollups that
the dashboards read (docs/metrics.md defines each metric; decisions/0020 the design)."""
