"""/generate: model ▸ mode ▸ aspect ratio ▸ options ▸ inputs ▸ price ▸ confirm, in one message.

Handlers stay thin: the draft (draft.py) decides the next step from the catalog, inputs.py checks
files, GenerationService reserves and submits. Every button carries the draft id; a button from
another draft (an old message, another user's message, a forged callback) changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.catalog.model import Catalog, InvalidOrder, category_name, mode_name
from bot.services.accounts import AccountsService
from bot.services.billing import BillingService, InsufficientCredits
from bot.services.generation import GenerationService, InputFileRef, TooManyJobs
from bot.store.users import UserRow
from bot.telegram.common import MenuCb, escape, shorten
from bot.telegram.wizard.draft import ALL_MODELS, Draft, Step, is_last_input, new_draft_id, next_step
from bot.telegram.wizard.inputs import InputProblem, read_input, rule_limits_text

log = logging.getLogger(__name__)

SUMMARY_PROMPT_CHARS = 300
BUTTON_ACTIONS = {"cat", "model", "mode", "ratio", "opt"}
# Telegram's limit is 4096; /models is cut into messages below it at entry boundaries.
MODELS_MESSAGE_CHARS = 3800
# Draft ids of the user's last confirmed orders, so a replayed Confirm says "already confirmed".
CONFIRMED_KEPT = 10


class WizardStates(StatesGroup):
    active = State()


class WizCb(CallbackData, prefix="w"):
    d: str  # draft id
    a: str  # action: cat model mode ratio opt skip back ok cancel
    v: str = ""  # value


def encode_ratio(ratio: str) -> str:
    """A ratio as it travels in callback data: ":" is aiogram's field separator ("9:16" → "9x16")."""
    return ratio.replace(":", "x")


def decode_ratio(value: str) -> str:
    return value.replace("x", ":")


async def answer_query(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answer the tap now (the spinner stops before slow work), once: CallbackAnswerGuard answers
    only what a handler left unanswered.

    Answering is best effort: a query Telegram re-sent, or one older than its answer window, cannot
    be answered any more, and that must not stop the work the tap asked for (a confirmed order
    still has to be submitted)."""
    try:
        await query.answer(text, show_alert=alert)
    except TelegramBadRequest as exc:
        log.info("Could not answer callback query %s: %s", query.id, exc.message)


def is_not_command(message: Message) -> bool:
    # Commands pass through the wizard's catch-all, so /balance or /help work in the middle of it.
    return not (message.text or "").startswith("/")


def reason_text(exc: InvalidOrder) -> str:
    """A catalog refusal in the user's words."""
    params = {k: (", ".join(v) if isinstance(v, tuple | list) else v) for k, v in exc.params.items()}
    text = _(f"order-{exc.reason_key}")
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text


class Wizard:
    """The wizard's rendering and transitions; one instance per dispatcher."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # --- texts and keyboards --------------------------------------------------------------------

    def _lang(self, user: UserRow) -> str:
        return user.language

    def render(
        self, draft: Draft, step: Step, user: UserRow, balance: int
    ) -> tuple[str, InlineKeyboardMarkup]:
        lang = self._lang(user)
        buttons: list[InlineKeyboardButton] = []
        sizes: tuple[int, ...] = (1,)
        d = draft.id
        entry = self.catalog.get(draft.model) if draft.model else None
        lines: list[str] = []
        if entry is not None:
            head = f"<b>{escape(entry.name(lang))}</b>"
            if draft.mode:
                head += f" · {escape(mode_name(draft.mode, lang))}"
            if draft.ratio:
                head += f" · {escape(draft.ratio)}"
            lines.append(head)
            for key, value in draft.options.items():
                option = entry.mode_spec(draft.mode or "").option(key) if draft.mode else None
                if option is not None:
                    lines.append(f"{escape(option.title(lang))}: {escape(option.value_title(value, lang))}")
            if lines:
                lines.append("")

        if step.name == "category":
            lines.append(_("wizard-choose-category"))
            for category in step.values:
                title = _("wizard-all-models") if category == ALL_MODELS else category_name(category, lang)
                buttons.append(_button(title, WizCb(d=d, a="cat", v=category)))
            sizes = (1, 2)
        elif step.name == "model":
            title = (
                _("wizard-all-models")
                if draft.category == ALL_MODELS
                else category_name(draft.category or "", lang)
            )
            lines.append(_("wizard-choose-model").format(category=escape(title)))
            for key in step.values:
                model = self.catalog.get(key)
                if model is None:
                    continue
                price = model.min_user_price
                label = ngettext("wizard-model-button", "wizard-model-button", price).format(
                    name=model.name(lang), price=price
                )
                buttons.append(_button(label, WizCb(d=d, a="model", v=key)))
        elif step.name == "mode":
            lines.append(_("wizard-choose-mode"))
            for mode in step.values:
                buttons.append(_button(mode_name(mode, lang), WizCb(d=d, a="mode", v=mode)))
        elif step.name == "ratio":
            lines.append(_("wizard-choose-ratio"))
            for ratio in step.values:
                label = ratio_label(ratio)
                if ratio == user.default_ratio:
                    label = f"✓ {label}"
                buttons.append(_button(label, WizCb(d=d, a="ratio", v=encode_ratio(ratio))))
        elif step.name == "option" and entry is not None and draft.mode and step.option:
            option = entry.mode_spec(draft.mode).option(step.option)
            assert option is not None
            lines.append(_("wizard-choose-option").format(option=escape(option.title(lang))))
            for value in step.values:
                buttons.append(
                    _button(option.value_title(value, lang), WizCb(d=d, a="opt", v=f"{option.key}={value}"))
                )
            sizes = (2,)
        elif step.name == "input" and step.rule is not None:
            key = f"wizard-send-{step.rule.kind.value}"
            if step.rule.count > 1:
                key = f"wizard-send-{step.rule.kind.value}-nth"
            limits = rule_limits_text(step.rule)
            lines.append(_(key).format(n=step.index + 1, count=step.rule.count, limits=limits))
            # A caption becomes the prompt only on the file right before the prompt step.
            if step.rule.kind.value == "image" and entry is not None and is_last_input(entry, draft, step):
                lines.append(_("wizard-caption-hint"))
        elif step.name == "prompt" and step.prompt_rule is not None:
            rule = step.prompt_rule
            lines.append(_("wizard-send-prompt").format(max=rule.max_length))
            if rule.english_only:
                lines.append(_("wizard-english-only"))
            if not rule.required:
                buttons.append(_button(_("wizard-skip"), WizCb(d=d, a="skip")))
        elif step.name == "summary" and entry is not None:
            return self.render_summary(draft, user, balance)

        nav = []
        if draft.choices:
            nav.append(_button(_("wizard-back"), WizCb(d=d, a="back")))
        nav.append(_button(_("wizard-cancel"), WizCb(d=d, a="cancel")))
        return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=[*layout(buttons, *sizes), nav])

    def render_summary(self, draft: Draft, user: UserRow, balance: int) -> tuple[str, InlineKeyboardMarkup]:
        lang = self._lang(user)
        entry = self.catalog.get(draft.model or "")
        assert entry is not None and draft.mode is not None
        quote = entry.quote(draft.mode, draft.options)
        lines = [
            _("wizard-summary-title"),
            "",
            f"{_('wizard-summary-model')}: <b>{escape(entry.name(lang))}</b>",
        ]
        lines.append(f"{_('wizard-summary-mode')}: {escape(mode_name(draft.mode, lang))}")
        if draft.ratio:
            lines.append(f"{_('wizard-summary-ratio')}: {escape(draft.ratio)}")
        spec = entry.mode_spec(draft.mode)
        for key, value in draft.options.items():
            option = spec.option(key)
            if option is not None:
                lines.append(f"{escape(option.title(lang))}: {escape(option.value_title(value, lang))}")
        files = draft.files
        if files:
            kinds = ", ".join(_(f"input-kind-{f['kind']}") for f in files)
            lines.append(f"{_('wizard-summary-inputs')}: {kinds}")
        if draft.prompt:
            lines.append(
                f"{_('wizard-summary-prompt')}: <i>{escape(shorten(draft.prompt, SUMMARY_PROMPT_CHARS))}</i>"
            )
        lines.append("")
        lines.append(_("wizard-summary-price").format(price=quote.user_credits))
        after = balance - quote.user_credits
        if after >= 0:
            lines.append(_("wizard-summary-balance-after").format(balance=balance, after=after))
        else:
            lines.append(_("wizard-summary-not-enough").format(balance=balance, price=quote.user_credits))
        d = draft.id
        if after >= 0:
            first = _button(_("wizard-confirm").format(price=quote.user_credits), WizCb(d=d, a="ok"))
        else:
            first = _button(_("menu-buy"), MenuCb(action="buy"))
        return "\n".join(lines), change_or_cancel_keyboard(first, d)


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def layout(buttons: list[InlineKeyboardButton], *sizes: int) -> list[list[InlineKeyboardButton]]:
    """Rows of the given sizes, the last size repeating (like InlineKeyboardBuilder.adjust).

    Built by hand because the builder copies the whole keyboard on every button, which made a
    21-model menu cost milliseconds per tap (bench/bench_wizard.py).
    """
    sizes = sizes or (1,)
    rows: list[list[InlineKeyboardButton]] = []
    index = 0
    while index < len(buttons):
        size = sizes[min(len(rows), len(sizes) - 1)]
        rows.append(buttons[index : index + size])
        index += size
    return rows


def change_or_cancel_keyboard(first: InlineKeyboardButton, draft_id: str) -> InlineKeyboardMarkup:
    """The summary's keyboard: one main button, then Change and Cancel."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [first],
            [
                _button(_("wizard-change"), WizCb(d=draft_id, a="back")),
                _button(_("wizard-cancel"), WizCb(d=draft_id, a="cancel")),
            ],
        ]
    )


def ratio_label(ratio: str) -> str:
    if ratio == "9:16":
        return _("ratio-9-16")
    if ratio == "16:9":
        return _("ratio-16-9")
    if ratio == "1:1":
        return _("ratio-1-1")
    if ratio.lower() == "auto":
        return _("ratio-auto")
    return ratio


def make_wizard_router(catalog: Catalog) -> Router:
    router = Router(name="wizard")
    wizard = Wizard(catalog)
    # One wizard update per user at a time: a double tap or an album of photos must not read the
    # same draft twice and lose one of the changes. In-process: one process serves a database file
    # (the FSM storage's cache relies on that too); several processes would need a shared lock.
    user_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    @contextlib.asynccontextmanager
    async def user_lock(user_id: int) -> AsyncIterator[None]:
        lock = user_locks.get(user_id)
        if lock is None:
            lock = asyncio.Lock()
            user_locks[user_id] = lock
        async with lock:
            yield

    async def confirmed_ids(state: FSMContext) -> list[str]:
        data = await state.get_data()
        return [str(d) for d in data.get("confirmed", [])]

    async def reset(state: FSMContext, *, confirmed: str | None = None) -> None:
        """Forget the draft but keep the ids of confirmed drafts (see wizard_button)."""
        kept = await confirmed_ids(state)
        if confirmed is not None:
            kept = [*kept, confirmed][-CONFIRMED_KEPT:]
        await state.clear()
        if kept:
            await state.update_data(confirmed=kept)

    async def load(state: FSMContext) -> Draft | None:
        data = await state.get_data()
        return Draft.from_data(data.get("draft"))

    async def save(state: FSMContext, draft: Draft) -> None:
        await state.set_state(WizardStates.active)
        await state.update_data(draft=draft.to_data())

    async def show(
        message: Message | None,
        chat_id: int,
        draft: Draft,
        state: FSMContext,
        user: UserRow,
        billing: BillingService,
        *,
        edit: bool,
    ) -> None:
        """Show the draft's next step: edit the wizard message in place, or send a fresh one."""
        step = next_step(draft, catalog, user.default_ratio)
        balance = await billing.balance(user.id) if step.name == "summary" else 0
        text, markup = wizard.render(draft, step, user, balance)
        if edit and message is not None:
            try:
                await message.edit_text(text, reply_markup=markup)
                draft.message_id = message.message_id
                await save(state, draft)
                return
            except TelegramBadRequest as exc:
                if "message is not modified" in str(exc):
                    await save(state, draft)
                    return
        bot = message.bot if message is not None else None
        assert bot is not None
        old_id = draft.message_id
        sent = await bot.send_message(chat_id, text, reply_markup=markup)
        draft.message_id = sent.message_id
        await save(state, draft)
        if old_id is not None and old_id != sent.message_id:
            # One live wizard message: the old one loses its buttons.
            with contextlib.suppress(TelegramBadRequest):
                await bot.edit_message_reply_markup(chat_id=chat_id, message_id=old_id, reply_markup=None)

    async def start(message: Message, state: FSMContext, db_user: UserRow, billing: BillingService) -> None:
        async with user_lock(db_user.id):
            old = await load(state)
            if old is not None and old.message_id is not None and message.bot is not None:
                with contextlib.suppress(TelegramBadRequest):
                    await message.bot.edit_message_reply_markup(
                        chat_id=message.chat.id, message_id=old.message_id, reply_markup=None
                    )
            await reset(state)
            draft = Draft(id=new_draft_id())
            await show(message, message.chat.id, draft, state, db_user, billing, edit=False)

    @router.message(Command("generate"))
    async def generate_command(
        message: Message, state: FSMContext, db_user: UserRow, billing: BillingService
    ) -> None:
        await start(message, state, db_user, billing)

    @router.callback_query(MenuCb.filter(F.action == "generate"))
    async def generate_button(
        query: CallbackQuery,
        state: FSMContext,
        db_user: UserRow,
        billing: BillingService,
    ) -> None:
        await answer_query(query)
        if isinstance(query.message, Message):
            await start(query.message, state, db_user, billing)

    @router.message(Command("cancel"))
    async def cancel_command(message: Message, state: FSMContext) -> None:
        draft = await load(state)
        await reset(state)
        if draft is not None and draft.message_id is not None and message.bot is not None:
            with contextlib.suppress(TelegramBadRequest):
                await message.bot.edit_message_text(
                    _("wizard-cancelled"), chat_id=message.chat.id, message_id=draft.message_id
                )
        await message.answer(_("cancelled"))

    @router.message(Command("models"))
    async def models_command(message: Message, db_user: UserRow) -> None:
        lang = db_user.language
        chunks: list[str] = [_("models-title") + "\n"]
        for entry in catalog.entries:
            modes = ", ".join(mode_name(m, lang) for m in entry.modes)
            line = _("models-line").format(
                name=escape(entry.name(lang)),
                maker=escape(entry.maker),
                description=escape(entry.description(lang)),
                modes=escape(modes),
                price=entry.min_user_price,
            )
            if len(chunks[-1]) + len(line) + 1 > MODELS_MESSAGE_CHARS:
                chunks.append("")
            chunks[-1] = f"{chunks[-1]}\n{line}" if chunks[-1] else line
        for chunk in chunks:
            await message.answer(chunk)

    @router.callback_query(WizCb.filter())
    async def wizard_button(
        query: CallbackQuery,
        callback_data: WizCb,
        state: FSMContext,
        db_user: UserRow,
        billing: BillingService,
        generation: GenerationService,
        accounts: AccountsService,
    ) -> None:
        async with user_lock(db_user.id):
            await handle_button(query, callback_data, state, db_user, billing, generation, accounts)

    async def handle_button(
        query: CallbackQuery,
        callback_data: WizCb,
        state: FSMContext,
        db_user: UserRow,
        billing: BillingService,
        generation: GenerationService,
        accounts: AccountsService,
    ) -> None:
        message = query.message if isinstance(query.message, Message) else None
        draft = await load(state)

        async def reply(text: str | None = None, *, alert: bool = False) -> None:
            await answer_query(query, text, alert=alert)

        if draft is None or draft.id != callback_data.d or message is None:
            if callback_data.a == "ok" and callback_data.d in await confirmed_ids(state):
                # A replayed or double-tapped Confirm: the draft is gone because it was confirmed.
                await reply(_("wizard-already-confirmed"))
            else:
                # An old message, another user's draft id, or a forged button.
                await reply(_("stale-button"), alert=True)
            return
        if message.message_id != draft.message_id:
            await reply(_("stale-button"), alert=True)
            return
        action, value = callback_data.a, callback_data.v
        chat_id = message.chat.id

        if action == "cancel":
            await reset(state)
            await reply()
            with contextlib.suppress(TelegramBadRequest):
                await message.edit_text(_("wizard-cancelled"))
            return
        if action == "back":
            draft.back()
            await reply()
            await show(message, chat_id, draft, state, db_user, billing, edit=True)
            return

        step = next_step(draft, catalog, db_user.default_ratio)
        if action in BUTTON_ACTIONS:
            expected = {
                "category": "cat",
                "model": "model",
                "mode": "mode",
                "ratio": "ratio",
                "option": "opt",
            }
            if expected.get(step.name) != action:
                await reply(_("stale-button"), alert=True)
                return
            if action == "opt":
                key, _sep, chosen = value.partition("=")
                if key != step.option or chosen not in step.values:
                    await reply(_("wizard-not-available"), alert=True)
                    return
                draft.add(f"opt:{key}", chosen)
            else:
                if action == "ratio":
                    value = decode_ratio(value)
                if value not in step.values:
                    await reply(_("wizard-not-available"), alert=True)
                    return
                draft.add({"cat": "category"}.get(action, action), value)
            await reply()
            await show(message, chat_id, draft, state, db_user, billing, edit=True)
            if action == "ratio" and value != db_user.default_ratio:
                # Remembered after the answer: the tap should not wait for a database write.
                await accounts.set_default_ratio(db_user.id, value)
            return
        if action == "skip":
            if step.name != "prompt" or step.prompt_rule is None or step.prompt_rule.required:
                await reply(_("stale-button"), alert=True)
                return
            draft.add("prompt", "")
            await reply()
            await show(message, chat_id, draft, state, db_user, billing, edit=True)
            return
        if action == "ok":
            if step.name != "summary":
                await reply(_("stale-button"), alert=True)
                return
            await confirm(reply, message, draft, state, db_user, generation)
            return
        await reply(_("wizard-not-available"), alert=True)

    async def confirm(
        reply: Callable[..., Awaitable[None]],
        message: Message,
        draft: Draft,
        state: FSMContext,
        user: UserRow,
        generation: GenerationService,
    ) -> None:
        files = [InputFileRef.from_dict(f) for f in draft.files]
        try:
            confirmed = await generation.confirm(
                user_id=user.id,
                chat_id=message.chat.id,
                draft_key=f"{user.id}:{draft.id}",
                order=draft.order(),
                files=files,
                status_message_id=message.message_id,
            )
        except InsufficientCredits as exc:
            await reply()
            text = _("wizard-not-enough-credits").format(balance=exc.balance, price=exc.needed)
            keyboard = change_or_cancel_keyboard(_button(_("menu-buy"), MenuCb(action="buy")), draft.id)
            with contextlib.suppress(TelegramBadRequest):
                await message.edit_text(text, reply_markup=keyboard)
            return
        except TooManyJobs as exc:
            await reply(_("wizard-too-many-jobs").format(limit=exc.limit), alert=True)
            return
        except InvalidOrder as exc:
            await reply(reason_text(exc), alert=True)
            return
        await reset(state, confirmed=draft.id)
        if not confirmed.created:
            await reply(_("wizard-already-confirmed"))
            return
        await reply(_("wizard-confirmed"))
        with contextlib.suppress(TelegramBadRequest):
            entry = catalog.get(confirmed.job.model_key)
            name = entry.name(user.language) if entry else confirmed.job.model_key
            await message.edit_text(
                _("job-status-preparing-full").format(name=escape(name), cost=confirmed.job.cost)
            )
        generation.start_submission(confirmed.job)

    @router.message(StateFilter(WizardStates.active), is_not_command)
    async def wizard_input(
        message: Message, state: FSMContext, db_user: UserRow, billing: BillingService
    ) -> None:
        async with user_lock(db_user.id):
            await handle_message(message, state, db_user, billing)

    async def handle_message(
        message: Message, state: FSMContext, db_user: UserRow, billing: BillingService
    ) -> None:
        draft = await load(state)
        if draft is None:
            await reset(state)
            await message.answer(_("fallback-hint"))
            return
        step = next_step(draft, catalog, db_user.default_ratio)
        chat_id = message.chat.id
        if step.name == "input" and step.rule is not None:
            try:
                received = read_input(message, step.rule)
            except InputProblem as problem:
                await message.answer(_(problem.key).format(**problem.params))
                return
            draft.add(f"input:{step.rule.kind.value}", received.ref.as_dict())
            caption = (received.caption or "").strip()
            follow = next_step(draft, catalog, db_user.default_ratio)
            if caption and follow.name == "prompt":
                problem_text = check_prompt(draft, caption)
                if problem_text is not None:
                    await message.answer(problem_text)
                else:
                    draft.add("prompt", caption)
            elif caption:
                # More files come first; say so rather than drop the caption silently.
                await message.answer(_("wizard-caption-ignored"))
            await show(message, chat_id, draft, state, db_user, billing, edit=False)
            return
        if step.name == "prompt":
            if message.text is None:
                await message.answer(_("wizard-expect-prompt"))
                return
            text = message.text.strip()
            problem_text = check_prompt(draft, text)
            if problem_text is not None:
                await message.answer(problem_text)
                return
            draft.add("prompt", text)
            await show(message, chat_id, draft, state, db_user, billing, edit=False)
            return
        # A button step: remind where the buttons are, and bring the menu back down.
        await message.answer(_("wizard-use-buttons"))
        await show(message, chat_id, draft, state, db_user, billing, edit=False)

    def check_prompt(draft: Draft, prompt: str) -> str | None:
        entry = catalog.get(draft.model or "")
        if entry is None or draft.mode is None:
            return _("stale-button")
        rule = entry.prompt_rule(draft.mode)
        # Every input slot filled with a placeholder: only the prompt is being judged here.
        filled = {r.kind.value: ("x",) * r.count for r in entry.input_rules(draft.mode)}
        try:
            entry.validate(replace(draft.order(), prompt=prompt, inputs=filled))
        except InvalidOrder as exc:
            if exc.reason_key.startswith("prompt_"):
                return reason_text(exc)
        if not prompt and rule.required:
            return _("order-prompt_empty")
        return None

    return router
