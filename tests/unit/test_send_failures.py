"""Telegram's refusals in the services' words (bot/telegram/job_results.py send_failure).

The texts are the Bot API's own descriptions; the delivery order in bot/services/delivery.py acts on
the class alone (tests/unit/test_delivery_order.py)."""

from __future__ import annotations

import pytest
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendVideo

from bot.services.ports import ChatGone, Refused, SendFailure, TooLarge, TransientSendFailure
from bot.telegram.job_results import reported_as_send_failure, send_failure

METHOD = SendVideo(chat_id=1, video="file-id")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TelegramForbiddenError(METHOD, "Forbidden: bot was blocked by the user"), ChatGone),
        (TelegramBadRequest(METHOD, "Bad Request: chat not found"), ChatGone),
        (TelegramBadRequest(METHOD, "Forbidden: user is deactivated"), ChatGone),
        (TelegramBadRequest(METHOD, "Bad Request: CHAT_WRITE_FORBIDDEN"), ChatGone),
        (TelegramNotFound(METHOD, "Not Found: chat not found"), ChatGone),
        (TelegramBadRequest(METHOD, "Bad Request: wrong file identifier/HTTP URL specified"), Refused),
        (TelegramNotFound(METHOD, "Not Found"), Refused),
        (TelegramEntityTooLarge(METHOD, "Request Entity Too Large"), TooLarge),
        (TelegramServerError(METHOD, "Internal Server Error"), TransientSendFailure),
        (TelegramNetworkError(METHOD, "connection reset"), TransientSendFailure),
    ],
)
def test_each_refusal_has_its_word(error: TelegramAPIError, expected: type[SendFailure]) -> None:
    failure = send_failure(error)
    assert type(failure) is expected
    assert str(failure) == str(error)


def test_a_flood_wait_keeps_telegrams_retry_after() -> None:
    failure = send_failure(TelegramRetryAfter(METHOD, "Too Many Requests: retry after 42", 42))
    assert isinstance(failure, TransientSendFailure) and failure.retry_after_s == 42.0
    server = send_failure(TelegramServerError(METHOD, "Bad Gateway"))
    assert isinstance(server, TransientSendFailure) and server.retry_after_s is None


def test_errors_with_no_word_propagate_unchanged() -> None:
    unauthorized = TelegramUnauthorizedError(METHOD, "Unauthorized")
    assert send_failure(unauthorized) is None
    with pytest.raises(TelegramUnauthorizedError), reported_as_send_failure():
        raise unauthorized
    with pytest.raises(ChatGone) as caught, reported_as_send_failure():
        raise TelegramForbiddenError(METHOD, "Forbidden: bot was blocked by the user")
    assert isinstance(caught.value.__cause__, TelegramForbiddenError)
