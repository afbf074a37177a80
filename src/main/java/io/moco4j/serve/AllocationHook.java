package io.moco4j.serve;

/**
 * Called by {@link GalleryServer} just before a request takes its large allocations (decoding the upload, the
 * search's result lists), with the stage and the size it is about to need. The server's hook does nothing; a test
 * installs one that makes the JVM throw a real {@link OutOfMemoryError} there, so the server's out-of-memory path
 * (answer 503, let the request's memory go, keep serving) runs exactly as it would on a full heap, without filling
 * the heap of the test JVM.
 */
@FunctionalInterface
interface AllocationHook {
    AllocationHook NONE = (stage, bytes) -> { };

    /** @param stage "decode" (an upload body of {@code bytes}) or "search" ({@code bytes}: k) */
    void beforeAllocating(String stage, long bytes);
}
