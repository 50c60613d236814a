import jinja2
import pytest

from agent.templating import TEMPLATE_ROOT, environment, render


def test_a_missing_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render("prompts/reminder.md.j2", remaining=1)


def test_prompts_are_not_html_escaped() -> None:
    text = render("prompts/reminder.md.j2", review_label="<triage & review>", remaining=1)

    assert "<triage & review>" in text


def test_html_templates_are_escaped() -> None:
    env = environment()
    loader_names = set(env.loader.list_templates()) if env.loader else set()

    assert env.autoescape is not False
    assert callable(env.autoescape) and env.autoescape("report.html") and not env.autoescape("system.md.j2")
    assert "prompts/system.md.j2" in loader_names
    assert TEMPLATE_ROOT.is_dir()


def test_there_is_one_environment() -> None:
    assert environment() is environment()
