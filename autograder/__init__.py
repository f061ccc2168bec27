"""Instructor tooling for the Lab 3 kit: skeleton generation, model summaries and (later) grading."""
