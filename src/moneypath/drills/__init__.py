"""Scripted drills: runner, tabletop prompts and the report (markdown + HTML + PNG)."""
