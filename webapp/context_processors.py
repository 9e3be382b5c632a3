import redis
from django.conf import settings

from search.engines.encoder import DEMO_MODELS
from search.pipeline import switching
from search.pipeline.worker_status import SummaryState, encoder_summary, read_all


def site(request) -> dict:
    """The model banner: which model answers, or why search cannot work right now."""
    try:
        state, detail = encoder_summary(read_all())
    except redis.RedisError as exc:
        state, detail = SummaryState.ERROR, f"the task queue (Redis) is unreachable: {exc}"
    model = switching.active_model_or_current()  # the switch row's, else CLIP_MODEL
    return {
        "clip_model": model,
        "trash_days": settings.TRASH_DAYS,
        "is_demo_model": model in DEMO_MODELS,
        "encoder_state": state,
        "encoder_detail": detail,
    }
