"""Every parameter a handler (or a filter) asks for by name is provided by someone.

aiogram calls a handler with the keys of its data that match the handler's parameter names and
silently leaves the others out: a parameter nobody provides is a TypeError at the first update,
in production. This test builds the dispatcher as `python -m bot` does and checks, for each handler
on each router, that every parameter after the event is provided where the handler sits: by the
composition root (HandlerDependencies), by a middleware on the handler's path (ours or aiogram's),
by one of its filters, or by aiogram itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aiogram import Dispatcher, Router
from aiogram.dispatcher.event.handler import CallableObject, HandlerObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.dispatcher.middlewares.error import ErrorsMiddleware
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.middleware import FSMContextMiddleware

from bot.i18n import UserLanguageMiddleware
from bot.telegram.dependencies import HandlerDependencies
from bot.telegram.middlewares import CallbackAnswerGuard, InFlightUpdates, OnceEachUpdate, UserMiddleware
from bot.telegram.private_only import PrivateChatsOnly
from bot.telegram.wizard.flow import ScreenMiddleware
from bot.telegram.wizard.session import LiveDraft, OneUpdatePerUser
from tests.inprocess.harness import InProcessBot

# What aiogram puts into every update's data itself (Dispatcher.feed_update, Router.propagate_event,
# TelegramEventObserver.trigger): see aiogram/dispatcher/middlewares/data.py, DispatcherData.
AIOGRAM_ALWAYS = frozenset({"dispatcher", "bot", "bots", "event_update", "event_router", "handler"})

# Keys each middleware sets in the data. Ours are checked against their source below; aiogram's are
# from its code (3.x): the user context (event_from_user, event_chat ...), the FSM (state,
# raw_state, fsm_storage) and i18n (I18nMiddleware's default i18n_key and middleware_key).
MIDDLEWARE_KEYS: dict[type, frozenset[str]] = {
    ErrorsMiddleware: frozenset(),
    UserContextMiddleware: frozenset(
        {"event_context", "event_from_user", "event_chat", "event_thread_id", "event_business_connection_id"}
    ),
    FSMContextMiddleware: frozenset({"fsm_storage", "state", "raw_state"}),
    UserLanguageMiddleware: frozenset({"i18n", "i18n_middleware"}),
    InFlightUpdates: frozenset(),
    OnceEachUpdate: frozenset(),
    PrivateChatsOnly: frozenset(),
    CallbackAnswerGuard: frozenset(),
    UserMiddleware: frozenset({"db_user", "new_user"}),
    OneUpdatePerUser: frozenset(),
    ScreenMiddleware: frozenset({"session", "screen"}),
    LiveDraft: frozenset({"draft", "step"}),
}
OUR_MIDDLEWARES = (UserMiddleware, ScreenMiddleware, LiveDraft)

DEPENDENCIES = frozenset(HandlerDependencies.__required_keys__ | HandlerDependencies.__optional_keys__)


def filter_keys(handler: HandlerObject) -> frozenset[str]:
    """What the handler's filters add to its data (their result dicts)."""
    keys: set[str] = set()
    for f in handler.filters or ():
        if isinstance(f.callback, CallbackQueryFilter):
            keys.add("callback_data")
        elif isinstance(f.callback, Command):
            keys.add("command")
    return frozenset(keys)


def middleware_keys(middlewares: Iterable[object]) -> frozenset[str]:
    keys: set[str] = set()
    for middleware in middlewares:
        kind = type(middleware)
        assert kind in MIDDLEWARE_KEYS, f"{kind.__name__}: say in MIDDLEWARE_KEYS which keys it sets"
        keys |= MIDDLEWARE_KEYS[kind]
    return frozenset(keys)


@dataclass(frozen=True)
class Asked:
    where: str
    name: str


def named_parameters(callable_object: CallableObject) -> list[str]:
    """The names aiogram fills in by keyword: every parameter after the event (the first)."""
    parameters = list(inspect.signature(inspect.unwrap(callable_object.callback)).parameters.values())
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in parameters[1:] if p.kind in kinds]


def unprovided(dp: Dispatcher) -> Iterator[Asked]:
    # Middlewares on dp.update (aiogram's user context and FSM, our in-flight counter and chat
    # filter) run for every update; the error observer is reached from the update level.
    update_level = middleware_keys([*dp.update.outer_middleware, *dp.update.middleware])
    base = AIOGRAM_ALWAYS | DEPENDENCIES

    def walk(
        router: Router, outer_above: dict[str, frozenset[str]], inner_above: dict[str, frozenset[str]]
    ) -> Iterator[Asked]:
        outer_here, inner_here = dict(outer_above), dict(inner_above)
        for event_name, observer in router.observers.items():
            if not isinstance(observer, TelegramEventObserver) or event_name == "update":
                continue
            outer, inner = middleware_keys(observer.outer_middleware), middleware_keys(observer.middleware)
            outer_here[event_name] = outer_above.get(event_name, frozenset()) | outer
            inner_here[event_name] = inner_above.get(event_name, frozenset()) | inner
            context = base if event_name == "error" else base | update_level
            for handler in observer.handlers:
                where = f"{router.name}/{event_name}/{handler.callback.__qualname__}"
                # Filters run before the inner middlewares; the handler after them.
                for f in handler.filters or ():
                    if f.varkw or not inspect.isfunction(inspect.unwrap(f.callback)):
                        continue  # aiogram's filter classes take only what aiogram gives them
                    for name in named_parameters(f):
                        if name not in context | outer_here[event_name]:
                            yield Asked(f"{where} (filter {f.callback.__qualname__})", name)
                provided = context | outer_here[event_name] | inner_here[event_name] | filter_keys(handler)
                for name in named_parameters(handler):
                    if name not in provided:
                        yield Asked(where, name)
        for child in router.sub_routers:
            yield from walk(child, outer_here, inner_here)

    yield from walk(dp, {}, {})


async def test_every_handler_parameter_is_provided(tg: InProcessBot) -> None:
    dp = tg.dp
    missing = list(unprovided(dp))
    assert not missing, "handler parameters nobody provides:\n" + "\n".join(
        f"  {asked.where}: {asked.name}" for asked in missing
    )
    # The walk saw the real thing: the wizard's handlers asking for the draft, the payments' for
    # the recorder, the admin's for the reports.
    asked = {name for observer in _observers(dp) for h in observer.handlers for name in named_parameters(h)}
    expected = {"draft", "step", "screen", "db_user", "payment_recorder", "admin_reports", "callback_data"}
    assert expected <= asked


def _observers(router: Router) -> Iterator[TelegramEventObserver]:
    for observer in router.observers.values():
        if isinstance(observer, TelegramEventObserver):
            yield observer
    for child in router.sub_routers:
        yield from _observers(child)


def test_our_middlewares_set_the_keys_listed_for_them() -> None:
    for middleware in OUR_MIDDLEWARES:
        source = inspect.getsource(middleware)
        for key in MIDDLEWARE_KEYS[middleware]:
            assert f'data["{key}"]' in source, f"{middleware.__name__} does not set {key!r}"


async def test_a_parameter_nobody_provides_is_caught(tg: InProcessBot) -> None:
    router = Router(name="probe")

    @router.message()
    async def needs_a_ghost(message: object, db_user: object, draft: object, ghost_service: object) -> None:
        pass

    tg.dp.include_router(router)
    missing = list(unprovided(tg.dp))
    # `draft` exists, but only under the wizard's routers (LiveDraft), not here.
    assert [asked.name for asked in missing] == ["draft", "ghost_service"]
