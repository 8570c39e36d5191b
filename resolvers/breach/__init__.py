"""Breach response: incidents and their 72-hour clock, containment, the impact measured
from the access and audit logs, the supervisory authority's report, notifying the people
concerned, and the detection rules that open suspected incidents."""
