from o2o.http import api_router

router = api_router(include_in_schema=False)
