"""Synthetic multi-source customer data with ground truth (issue 3).

``generate`` writes, for a seed, a population size and a number of days, the raw files
nine kinds of systems would deliver (``<workspace>/landing/<source>/<YYYY-MM-DD>/``), with
configurable noise, and the ground truth beside them (``<workspace>/truth/``): the true
person of every raw line and of every identifier value. Generation runs on Spark and is
deterministic: the same settings give byte-identical files, and each day can be generated
on its own for incremental runs. See ``SOURCE_SCHEMAS`` for the raw formats,
``NOISE_KINDS`` for the noise and STORY.md for the scripted Antarctic story (true person id
``STORY_PERSON_ID``), used as an end-to-end test.

Settings live in ``conf/datagen.yaml`` (registered here as a domain file).
"""

from __future__ import annotations

from cdp_spark.config import DomainFile, register_domain_file
from cdp_spark.datagen.generator import GenerationResult, bench_generate, generate
from cdp_spark.datagen.schemas import NOISE_KINDS, SOURCE_SCHEMAS, SOURCES, SourceSchema
from cdp_spark.datagen.settings import DatagenSettings, LocaleMix, NoiseRates
from cdp_spark.datagen.story import STORY_PERSON_ID

register_domain_file(DomainFile("datagen.yaml", DatagenSettings))

__all__ = [
    "NOISE_KINDS",
    "SOURCES",
    "SOURCE_SCHEMAS",
    "STORY_PERSON_ID",
    "DatagenSettings",
    "GenerationResult",
    "LocaleMix",
    "NoiseRates",
    "SourceSchema",
    "bench_generate",
    "generate",
]
