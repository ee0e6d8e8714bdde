"""The chart and its values: the schema and what is generated from it, values files and
profiles, rendering through helm, the chart's own defaults, and the checks on rendered manifests.
Needs no cluster."""
