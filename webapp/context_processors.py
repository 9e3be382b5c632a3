import redis
from django.conf import settings

from search.worker_status import SummaryState, encoder_summary, read_all


def site(request) -> dict:
    """The model banner: which model answers, or why search cannot work right now."""
    try:
        state, detail = encoder_summary(read_all())
    except redis.RedisError as exc:
        state, detail = SummaryState.ERROR, f"the task queue (Redis) is unreachable: {exc}"
    return {
        "clip_model": settings.CLIP_MODEL,
        "trash_days": settings.TRASH_DAYS,
        "is_demo_model": settings.CLIP_MODEL == "demo",
        "encoder_state": state,
        "encoder_detail": detail,
    }
