"""Messages while a draft is open: the file an input step asks for, the prompt, or a reminder that
the current step is answered with buttons. Commands pass through (/balance works mid-wizard)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.catalog.model import TELEGRAM_DOWNLOAD_LIMIT_BYTES, InputKind, InputRule, InvalidOrder, PromptRule
from bot.telegram.common import main_menu_keyboard
from bot.telegram.wizard.draft import PHOTO_START, TEXT_START, Action, Draft, Step
from bot.telegram.wizard.flow import WizardScreen
from bot.telegram.wizard.inputs import InputProblem, read_input
from bot.telegram.wizard.rules import models_starting_from, next_step
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
        await message.answer(problem.text())
        return
    draft.end_edit()  # a field changed before this file stays changed: Back now drops the file
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
        elif _takes_prompt(draft, screen):
            # More files come first (speech→video: photo, then audio): the caption waits with its
            # file and becomes the prompt when that step comes (next_step fills it in).
            draft.choices[-1].value["caption"] = caption
            following = None  # the draft changed again
            await message.answer(_("wizard-caption-kept"))
        else:
            await message.answer(_("wizard-caption-ignored"))
    await screen.show(message.chat.id, draft, step=following)


def _takes_prompt(draft: Draft, screen: WizardScreen) -> bool:
    entry = screen.catalog.get(draft.model or "")
    return entry is not None and draft.mode is not None and entry.prompt_rule(draft.mode).max_length > 0


async def take_prompt(message: Message, draft: Draft, step: Step, screen: WizardScreen) -> None:
    if message.text is None or step.prompt_rule is None:
        await message.answer(_("wizard-expect-prompt"))
        return
    text = message.text.strip()
    problem = prompt_problem(step.prompt_rule, text)
    if problem is not None:
        await message.answer(problem)
        return
    draft.end_edit()
    draft.add("prompt", text)
    await screen.show(message.chat.id, draft)


async def point_to_buttons(message: Message, draft: Draft, step: Step, screen: WizardScreen) -> None:
    """A button step: say where the buttons are, and bring the menu back down."""
    await message.answer(_("wizard-use-buttons"))
    await screen.show(message.chat.id, draft, step=step)


# Any photo a photo→video model might take; the chosen model's own rule is checked by next_step.
SEED_IMAGE_RULE = InputRule(
    InputKind.IMAGE, 1, ("image/jpeg", "image/png", "image/webp"), TELEGRAM_DOWNLOAD_LIMIT_BYTES
)
# A text outside the wizard starts an order when it reads like an idea, not like "hi" or "ok".
MIN_IDEA_WORDS = 3


async def begin_order_from(message: Message, screen: WizardScreen) -> bool:
    """A photo or an idea sent outside the wizard starts an order with it; False when it is neither.

    A photo offers the photo→video models with the photo as their first input (its caption as the
    prompt); a text offers the text→video models with the text as the prompt.
    """
    if message.photo:
        try:
            received = read_input(message, SEED_IMAGE_RULE)
        except InputProblem:
            return False
        category, image, prompt = PHOTO_START, received.ref.as_dict(), (message.caption or "").strip()
    elif message.text and len(message.text.split()) >= MIN_IDEA_WORDS:
        category, image, prompt = TEXT_START, None, message.text.strip()
    else:
        return False
    if not models_starting_from(screen.catalog, category):
        return False
    await screen.start(message.chat.id, Draft.started_with(category, image=image, prompt=prompt))
    return True


async def outside_the_wizard(message: Message, screen: WizardScreen) -> None:
    """No order open: a photo or an idea starts one; anything else gets the hint."""
    if not await begin_order_from(message, screen):
        await message.answer(_("fallback-hint"), reply_markup=main_menu_keyboard())


async def on_message(message: Message, draft: Draft, step: Step, screen: WizardScreen) -> None:
    """Route by the step the draft is at (computed once, by LiveDraft)."""
    if step.name is Action.CATEGORY and await begin_order_from(message, screen):
        return  # nothing chosen yet: what was sent starts the order
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


def make_outside_router() -> Router:
    """Messages while no order is open (after the wizard's own routers, before the fallback)."""
    router = Router(name="wizard-outside")
    router.message.register(outside_the_wizard, StateFilter(None), is_not_command)
    return router
