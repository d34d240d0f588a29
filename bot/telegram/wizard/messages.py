"""Messages while a draft is open: the file an input step asks for, the prompt, or a reminder that
the current step is answered with buttons. Commands pass through (/balance works mid-wizard)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.catalog.model import InvalidOrder, PromptRule
from bot.telegram.wizard.draft import Action, Draft, Step, next_step
from bot.telegram.wizard.flow import WizardScreen
from bot.telegram.wizard.inputs import InputProblem, read_input
from bot.telegram.wizard.session import WizardStates
from bot.telegram.wizard.view import reason_text


def is_not_command(message: Message) -> bool:
    return not (message.text or "").startswith("/")


def prompt_problem(rule: PromptRule, prompt: str) -> str | None:
    """What is wrong with `prompt` in the user's words, or None when the model takes it."""
    try:
        rule.check(prompt)
    except InvalidOrder as exc:
        return reason_text(exc)
    return None


async def take_file(message: Message, draft: Draft, step: Step, screen: WizardScreen) -> None:
    """The file the input step asks for; a caption on the last file before the prompt is the prompt."""
    assert step.rule is not None
    try:
        received = read_input(message, step.rule)
    except InputProblem as problem:
        await message.answer(_(problem.key).format(**problem.params))
        return
    draft.add(f"input:{step.rule.kind.value}", received.ref.as_dict())
    caption = (received.caption or "").strip()
    following: Step | None = None  # the changed draft's step, when computed here
    if caption:
        following = next_step(draft, screen.catalog)
        if following.name is Action.PROMPT and following.prompt_rule is not None:
            prompt_refusal = prompt_problem(following.prompt_rule, caption)
            if prompt_refusal is not None:
                await message.answer(prompt_refusal)
            else:
                draft.add("prompt", caption)
                following = None  # the draft changed again
        else:
            # More files come first; say so rather than drop the caption silently.
            await message.answer(_("wizard-caption-ignored"))
    await screen.show(message.chat.id, draft, step=following)


async def take_prompt(message: Message, draft: Draft, step: Step, screen: WizardScreen) -> None:
    if message.text is None or step.prompt_rule is None:
        await message.answer(_("wizard-expect-prompt"))
        return
    text = message.text.strip()
    problem = prompt_problem(step.prompt_rule, text)
    if problem is not None:
        await message.answer(problem)
        return
    draft.add("prompt", text)
    await screen.show(message.chat.id, draft)


async def point_to_buttons(message: Message, draft: Draft, step: Step, screen: WizardScreen) -> None:
    """A button step: say where the buttons are, and bring the menu back down."""
    await message.answer(_("wizard-use-buttons"))
    await screen.show(message.chat.id, draft, step=step)


async def on_message(message: Message, draft: Draft, step: Step, screen: WizardScreen) -> None:
    """Route by the step the draft is at (computed once, by LiveDraft)."""
    if step.name is Action.INPUT:
        handler = take_file
    elif step.name is Action.PROMPT:
        handler = take_prompt
    else:
        handler = point_to_buttons
    await handler(message, draft, step, screen)


def make_messages_router() -> Router:
    router = Router(name="wizard-messages")
    router.message.register(on_message, StateFilter(WizardStates.active), is_not_command)
    return router
