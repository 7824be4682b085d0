"""The reporting service's pure domain: from the facts (events of the other services) to the figures the PMO
reports and the alerts it raises. No I/O; the date to look at and the thresholds come in as arguments."""
