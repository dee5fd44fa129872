from o2o.http import api_router

router = api_router(prefix="/api/cities", tags=["cities"])
