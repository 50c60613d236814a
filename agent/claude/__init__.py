"""Triage through Claude: a bounded tool-use loop whose every effect passes the guard."""

from agent.claude.batch import BatchesAPI, batch_requests, run_batch
from agent.claude.choice import EngineName, PrecomputedEngine, SecondOpinion, Step0Gate, choose_engine, needs_model
from agent.claude.engine import API_KEY_VARIABLE, ClaudeEngine, MissingApiKey, anthropic_client
from agent.claude.loop import MessagesAPI
from agent.claude.meter import cost_usd
from agent.claude.settings import ClaudeSettings, Prices, SettingsError
from agent.claude.tools import ExtraTool, read_only_tools
from agent.claude.untrusted import Finding, Inspection, inspect_untrusted

__all__ = [
    "API_KEY_VARIABLE",
    "BatchesAPI",
    "ClaudeEngine",
    "ClaudeSettings",
    "EngineName",
    "ExtraTool",
    "Finding",
    "Inspection",
    "MessagesAPI",
    "MissingApiKey",
    "PrecomputedEngine",
    "Prices",
    "SecondOpinion",
    "SettingsError",
    "Step0Gate",
    "anthropic_client",
    "batch_requests",
    "choose_engine",
    "cost_usd",
    "inspect_untrusted",
    "needs_model",
    "read_only_tools",
    "run_batch",
]
