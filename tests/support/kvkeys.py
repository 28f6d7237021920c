"""The keys a JetStream KV bucket holds, as the server counts them.

nats.py's ``KeyValue.keys()`` is racy: it creates an ordered consumer, then asks for the consumer's
``num_pending``; when the server has already pushed every entry but the client has not handled one
yet, it sees ``num_pending == 0`` and ``delivered == 0``, reports the end at once and raises
``NoKeysError`` for a bucket that has keys (nats-py 2.16 ``kv.py``, ``watch``). Stream info with a
subjects filter is one request the server answers from its own index, so tests read keys this way.
"""

from __future__ import annotations

from nats.js import JetStreamContext


async def kv_keys(js: JetStreamContext, bucket: str, prefix: str = "") -> set[str]:
    """Live keys of ``bucket`` (the ones whose last entry is not a delete or purge marker) under ``prefix``.

    A deleted key keeps its marker in the stream, so subjects alone would still list it; each
    subject's last message is read to tell.
    """
    head = f"$KV.{bucket}."
    subjects_filter = f"{head}{prefix}>" if prefix else f"{head}>"
    info = await js.stream_info(f"KV_{bucket}", subjects_filter=subjects_filter)
    live: set[str] = set()
    for subject in info.state.subjects or {}:
        last = await js.get_last_msg(f"KV_{bucket}", subject)
        if (last.headers or {}).get("KV-Operation") not in ("DEL", "PURGE"):
            live.add(subject.removeprefix(head))
    return live
