"""WhiteNoise for an ASGI server.

WhiteNoise 6's middleware is synchronous only: under ASGI Django then runs it, and everything after it, in
its single thread for sync code, which serialises the start of every request (the DICOMweb proxy's frame
requests included). This wrapper is async-capable: it looks the path up in WhiteNoise's table (a dict
lookup) and hands only the app's own files to WhiteNoise in a thread; every other request goes straight on.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from whitenoise.middleware import WhiteNoiseMiddleware


class AsyncWhiteNoiseMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.whitenoise = WhiteNoiseMiddleware(get_response)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _lookup(self, request):
        if self.whitenoise.autorefresh:
            return self.whitenoise.find_file(request.path_info)
        return self.whitenoise.files.get(request.path_info)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        static_file = self._lookup(request)
        if static_file is not None:
            return self.whitenoise.serve(static_file, request)
        return self.get_response(request)

    async def __acall__(self, request):
        static_file = self._lookup(request)
        if static_file is not None:
            return await sync_to_async(self.whitenoise.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)
