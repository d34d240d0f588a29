"""Outgoing traffic shaping: who may send to Telegram next, within the bot's message budget.

`budget` says whether one more message fits Telegram's limits now (per bot and per chat), in this
process (`LocalSendBudget`) or for every instance of the bot (`RedisSendBudget`); `scheduler` queues
the sends that do not fit yet and lets them go by priority, coalescing edits of one message. Nothing
here imports aiogram: bot/telegram/outgoing.py is the request middleware that feeds it.
"""
