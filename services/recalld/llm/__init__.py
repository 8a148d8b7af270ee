"""The LLM path: structured answers from OpenAI-compatible servers, and the reconciliation judge."""
