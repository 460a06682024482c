"""The embedded demo AI system: sim providers, a tool API and a RAG support assistant."""
