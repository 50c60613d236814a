"""The offline rules engine: rubric data, signal extraction, and the skill's steps as a pure function."""

from agent.rules.decision import decide
from agent.rules.engine import RulesEngine
from agent.rules.rubric import Rubric, RubricError
from agent.rules.signals import Signals
from agent.rules.text import IssueText, read_issue

__all__ = ["IssueText", "Rubric", "RubricError", "RulesEngine", "Signals", "decide", "read_issue"]
