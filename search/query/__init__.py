"""The query side: the query language, query vectors from the query worker, the keyword side, fusion,
the search service, copies and duplicates, regions and example images. It imports the pipeline only for
which model answers (`search.pipeline.switching`) and the query worker's tasks (`search.tasks`)
(`.importlinter`)."""
