package io.moco4j.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.moco4j.api.Encoder;
import io.moco4j.api.Neighbor;
import io.moco4j.data.ImageDecoder;
import io.moco4j.data.ImageTooLargeException;
import io.moco4j.data.ResizeTooLargeException;
import io.moco4j.data.RgbImage;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP side of {@code ./moco4j serve}, on the JDK's built-in server: the page (three static files from the
 * class path), the gallery's images by id, and a JSON API:
 * <ul>
 *   <li>{@code GET /api/images?offset=O&limit=L}: the images (id, relative path, label), classes, kNN purity;</li>
 *   <li>{@code GET /api/neighbors/{id}?k=K}: the k nearest other images of image {@code id} with cosine scores;</li>
 *   <li>{@code POST /api/search?k=K} (body: an image file): the k nearest images of an uploaded image;</li>
 *   <li>{@code GET /api/map}: every image's position on the 2-D map ({@link Pca2d});</li>
 *   <li>{@code GET /image/{id}}: the bytes of indexed image {@code id}.</li>
 * </ul>
 *
 * <p>Security: routes are matched on the raw (undecoded) path against fixed patterns, so {@code ..}, {@code %2e%2e}
 * or an absolute path can only ever be a 404; files are served by numeric id from the gallery's list and never by a
 * name from the request; nothing lists a folder. Uploads are limited in bytes and decoded with a pixel limit; a
 * body that is not an image is a 415. Every error is a JSON object with one line; stack traces go to the log only.
 * When bound to a loopback address, requests whose {@code Host} is not a loopback name are refused (a web page
 * elsewhere cannot reach the server through DNS rebinding).
 *
 * <p>Load: requests run on a fixed number of threads with a bounded queue ({@link Limits}); a request that finds
 * the queue full is answered 503 with a one-line JSON reason by a small overflow pool (and, if even that is full,
 * its connection is closed), so many clients never make threads or queued work grow without bound. Uploads take
 * one of a few embedding slots before their body is read (waiting at most {@link Limits#embedWaitMillis()}, then
 * 503), which bounds the memory of bodies and decoded images held at once; an OutOfMemoryError left in a request is a
 * 503 line and the server goes on.
 */
public final class GalleryServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(GalleryServer.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Largest upload accepted by {@code /api/search}. */
    public static final int MAX_UPLOAD_BYTES = 16 << 20;
    /** Largest uploaded image decoded (pixels), far above any photo a search needs. */
    public static final long MAX_UPLOAD_PIXELS = 40_000_000L;
    /** Largest page of {@code /api/images} and largest k. */
    static final int MAX_PAGE = 5000;
    static final int MAX_K = 1000;
    /** Requests waiting for a 503 at most; beyond, a connection is closed unanswered. */
    static final int OVERFLOW_QUEUE = 4096;

    private static final Pattern NEIGHBORS = Pattern.compile("/api/neighbors/(\\d{1,9})");
    private static final Pattern IMAGE = Pattern.compile("/image/(\\d{1,9})");
    private static final Map<String, String[]> STATIC = Map.of(
            "/", new String[] {"index.html", "text/html; charset=utf-8"},
            "/index.html", new String[] {"index.html", "text/html; charset=utf-8"},
            "/app.js", new String[] {"app.js", "text/javascript; charset=utf-8"},
            "/style.css", new String[] {"style.css", "text/css; charset=utf-8"});

    private final Gallery gallery;
    private final Encoder encoder;
    private final int defaultK;
    private final String title;
    private final HttpServer server;
    /** Request threads; package-private so tests can read per-thread state (autocast) on them. */
    final ThreadPoolExecutor workers;
    private final ThreadPoolExecutor overflow;
    private final Semaphore embedSlots;
    private final Limits limits;
    private final boolean loopback;
    private final ClassPurity purity;
    private final float[] map;
    private final Map<String, byte[]> resources = new HashMap<>();
    private volatile AllocationHook allocationHook = AllocationHook.NONE;

    /**
     * How much work the server takes on at once.
     *
     * @param threads requests handled at the same time
     * @param queue requests waiting for a thread; beyond it a request gets a 503
     * @param embedSlots uploads read, decoded and embedded at the same time
     * @param embedWaitMillis how long an upload waits for an embedding slot before a 503
     */
    public record Limits(int threads, int queue, int embedSlots, long embedWaitMillis) {
        public Limits {
            if (threads < 1 || queue < 1 || embedSlots < 1 || embedWaitMillis < 0) {
                throw new IllegalArgumentException("server limits must be positive: " + threads + ", " + queue + ", " + embedSlots);
            }
        }

        /** 16 threads, 256 waiting, one embedding slot a core (at least 2), 10 s wait for a slot. */
        public static Limits defaults() {
            return new Limits(16, 256, Math.max(2, Runtime.getRuntime().availableProcessors()), 10_000);
        }
    }

    /**
     * Binds {@code host:port} (port 0 picks a free one) without starting; {@link #start()} serves.
     *
     * @param title shown on the page (e.g. the folder and checkpoint)
     */
    public GalleryServer(Gallery gallery, Encoder encoder, String host, int port, int defaultK, String title) {
        this(gallery, encoder, host, port, defaultK, title, Limits.defaults());
    }

    /** As {@link #GalleryServer(Gallery, Encoder, String, int, int, String)} with the given limits. */
    public GalleryServer(Gallery gallery, Encoder encoder, String host, int port, int defaultK, String title, Limits limits) {
        this.limits = limits;
        this.embedSlots = new Semaphore(limits.embedSlots(), true);
        this.gallery = gallery;
        this.encoder = encoder;
        this.defaultK = defaultK;
        this.title = title;
        for (String[] r : STATIC.values()) {
            resources.computeIfAbsent(r[0], GalleryServer::resource);
        }
        int[] labels = gallery.items().stream().mapToInt(Gallery.Item::label).toArray();
        this.purity = gallery.isLabeled() ? ClassPurity.of(gallery.index(), labels, gallery.classes().size(), defaultK) : null;
        this.map = Pca2d.project(gallery.index());
        try {
            InetAddress address = InetAddress.getByName(host);
            this.loopback = address.isLoopbackAddress();
            this.server = HttpServer.create(new InetSocketAddress(address, port), 64);
        } catch (IOException e) {
            throw new UserException("cannot listen on " + host + ":" + port + " (" + e.getMessage()
                    + "); choose another --port or --host");
        }
        // Overflow: answers 503 only (no work), on its own small pool so an overloaded server still says so.
        // Its queue is long (a refused request costs little to hold: its connection and a few objects) so that a
        // burst far beyond the limits still reads 503s instead of reset connections.
        this.overflow = new ThreadPoolExecutor(2, 2, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(OVERFLOW_QUEUE),
                r -> new OverloadThread(r), (r, pool) -> {
                    throw new RejectedExecutionException("the server is overloaded"); // the JDK server closes the connection
                });
        this.workers = new ThreadPoolExecutor(limits.threads(), limits.threads(), 0, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(limits.queue()), r -> {
                    Thread t = new Thread(r, "serve-http");
                    t.setDaemon(true);
                    return t;
                }, (r, pool) -> overflow.execute(r));
        server.setExecutor(workers);
        server.createContext("/", this::handle);
    }

    private static byte[] resource(String name) {
        try (InputStream in = GalleryServer.class.getResourceAsStream("web/" + name)) {
            if (in == null) {
                throw new IllegalStateException("the serve page resource " + name + " is missing from the jar");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the serve page resource " + name, e);
        }
    }

    /** Test seam: called before a request's large allocations (see {@link AllocationHook}). */
    void allocationHook(AllocationHook hook) {
        this.allocationHook = hook == null ? AllocationHook.NONE : hook;
    }

    public void start() {
        server.start();
    }

    /** The bound port (the chosen one when 0 was asked for). */
    public int port() {
        return server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
        workers.shutdownNow();
        overflow.shutdownNow();
    }

    /** A thread of the overflow pool: requests it runs are refused with 503 before any work. */
    private static final class OverloadThread extends Thread {
        OverloadThread(Runnable r) {
            super(r, "serve-overload");
            setDaemon(true);
        }
    }

    /** Answers one request; whatever goes wrong, the client gets a JSON error line and no internals. */
    private void handle(HttpExchange ex) {
        try {
            try {
                if (Thread.currentThread() instanceof OverloadThread) {
                    drain(ex); // read what the client still sends (bounded), or it sees a reset instead of the 503
                    ex.getResponseHeaders().set("Retry-After", "1");
                    throw new HttpError(503, "the server is busy (" + limits.threads() + " requests running, "
                            + limits.queue() + " waiting); try again in a moment");
                }
                route(ex);
            } catch (HttpError e) {
                sendError(ex, e.status, e.getMessage());
            } catch (RuntimeException | IOException e) {
                LOG.warn("request {} {} failed", ex.getRequestMethod(), ex.getRequestURI().getRawPath(), e);
                sendError(ex, 500, "internal error; see the server log");
            } catch (OutOfMemoryError e) {
                // One request too big for the heap (e.g. several large uploads at once); the others go on. Its body,
                // decoded image and results were locals of the frames the error unwound, so they are garbage now;
                // the embedding slot was given back by embedUpload's finally. Only a small JSON line is allocated here.
                LOG.warn("request {} {} ran out of memory ({})", ex.getRequestMethod(), ex.getRequestURI().getRawPath(), e.getMessage());
                sendError(ex, 503, "the server ran out of memory for this request; send a smaller image or try again");
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("could not answer {}: {}", ex.getRequestURI().getRawPath(), e.toString());
        } finally {
            ex.close();
        }
    }

    private void route(HttpExchange ex) throws IOException {
        if (loopback && !isLoopbackHost(ex.getRequestHeaders().getFirst("Host"))) {
            throw new HttpError(403, "this server answers only requests addressed to localhost");
        }
        String path = ex.getRequestURI().getRawPath();
        String method = ex.getRequestMethod();
        Map<String, String> query = query(ex.getRequestURI());
        String[] page = STATIC.get(path);
        Matcher m;
        if (page != null) {
            requireMethod(method, "GET");
            send(ex, 200, page[1], resources.get(page[0]), false);
        } else if (path.equals("/api/images")) {
            requireMethod(method, "GET");
            sendJson(ex, images(intParam(query, "offset", 0, 0, Integer.MAX_VALUE), intParam(query, "limit", MAX_PAGE, 1, MAX_PAGE)));
        } else if ((m = NEIGHBORS.matcher(path)).matches()) {
            requireMethod(method, "GET");
            Gallery.Item item = item(m.group(1));
            int k = intParam(query, "k", defaultK, 1, MAX_K);
            allocationHook.beforeAllocating("search", k);
            ObjectNode out = JSON.createObjectNode();
            out.set("query", describe(item, null));
            out.set("neighbors", neighbors(gallery.index().neighborsOf(item.id(), k)));
            sendJson(ex, out);
        } else if (path.equals("/api/search")) {
            requireMethod(method, "POST");
            int k = intParam(query, "k", defaultK, 1, MAX_K);
            float[] e = embedUpload(ex);
            allocationHook.beforeAllocating("search", k);
            ObjectNode out = JSON.createObjectNode();
            out.set("neighbors", neighbors(gallery.index().search(e, k)));
            sendJson(ex, out);
        } else if (path.equals("/api/map")) {
            requireMethod(method, "GET");
            sendJson(ex, mapJson());
        } else if ((m = IMAGE.matcher(path)).matches()) {
            requireMethod(method, "GET");
            Gallery.Item item = item(m.group(1));
            byte[] bytes;
            try {
                // Checked again at each request: a file swapped for a link after indexing must not lead out.
                if (!item.file().toRealPath().startsWith(gallery.root())) {
                    throw new HttpError(404, "image " + item.id() + " is no longer inside the folder");
                }
                bytes = Files.readAllBytes(item.file());
            } catch (IOException e) {
                throw new HttpError(404, "image " + item.id() + " is no longer readable");
            }
            ex.getResponseHeaders().set("Cache-Control", "max-age=3600");
            send(ex, 200, contentType(item.path()), bytes, true);
        } else {
            throw new HttpError(404, "not found");
        }
    }

    private static boolean isLoopbackHost(String host) {
        if (host == null) {
            return false;
        }
        String h = host.toLowerCase(Locale.ROOT);
        if (h.startsWith("[")) {
            h = h.substring(0, Math.max(1, h.indexOf(']') + 1));
        } else if (h.indexOf(':') >= 0) {
            h = h.substring(0, h.indexOf(':'));
        }
        return h.equals("localhost") || h.equals("127.0.0.1") || h.equals("[::1]") || h.startsWith("127.");
    }

    private static void requireMethod(String method, String allowed) {
        if (!method.equals(allowed)) {
            throw new HttpError(405, method + " is not allowed here; use " + allowed);
        }
    }

    private Gallery.Item item(String digits) {
        Gallery.Item item = gallery.item(Integer.parseInt(digits));
        if (item == null) {
            throw new HttpError(404, "no image with id " + digits + " (ids are 0.." + (gallery.size() - 1) + ")");
        }
        return item;
    }

    /**
     * Reads, decodes and embeds an upload inside one embedding slot, so at most {@link Limits#embedSlots()} bodies
     * and decoded images are in memory at once; a request that finds no slot in time gets a 503.
     */
    private float[] embedUpload(HttpExchange ex) throws IOException {
        boolean slot;
        try {
            slot = embedSlots.tryAcquire(limits.embedWaitMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HttpError(503, "the server is stopping; try again later");
        }
        if (!slot) {
            drain(ex);
            ex.getResponseHeaders().set("Retry-After", "1");
            throw new HttpError(503, "the server is busy embedding other uploads (" + limits.embedSlots()
                    + " at a time); try again in a moment");
        }
        try {
            RgbImage upload = decodeUpload(ex);
            try {
                return encoder.embedDecoded(List.of(upload))[0];
            } catch (UserException refused) {
                // e.g. too thin to resize to the view (ResizeTooLargeException, wrapped with the image's name)
                Throwable why = refused.getCause() instanceof ResizeTooLargeException r ? r : refused;
                throw new HttpError(413, "the upload cannot be used: " + why.getMessage());
            }
        } finally {
            embedSlots.release();
        }
    }

    private RgbImage decodeUpload(HttpExchange ex) throws IOException {
        String length = ex.getRequestHeaders().getFirst("Content-Length");
        if (length != null && length.matches("\\d{1,18}") && Long.parseLong(length) > MAX_UPLOAD_BYTES) {
            drain(ex);
            throw new HttpError(413, "the upload is larger than " + (MAX_UPLOAD_BYTES >> 20) + " MB; send a smaller image");
        }
        byte[] body = ex.getRequestBody().readNBytes(MAX_UPLOAD_BYTES + 1);
        if (body.length > MAX_UPLOAD_BYTES) {
            drain(ex);
            throw new HttpError(413, "the upload is larger than " + (MAX_UPLOAD_BYTES >> 20) + " MB; send a smaller image");
        }
        if (body.length == 0) {
            throw new HttpError(400, "the request has no body; POST an image file (jpg, png, bmp or gif)");
        }
        allocationHook.beforeAllocating("decode", body.length);
        try {
            return ImageDecoder.decode(body, "upload", MAX_UPLOAD_PIXELS);
        } catch (ImageTooLargeException e) {
            throw new HttpError(413, "the image has more than " + MAX_UPLOAD_PIXELS + " pixels; send a smaller image");
        } catch (IOException e) {
            throw new HttpError(415, "the upload is not a readable image (" + reason(e) + "); send a jpg, png, bmp or gif file");
        }
    }

    /** The decoder's reason without the source name, printable and short enough for one line. */
    static String reason(IOException e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        if (m.startsWith("upload: ")) {
            m = m.substring("upload: ".length());
        }
        m = m.replaceFirst("^[A-Za-z]*(Exception|Error): ", ""); // the decoder's class name says nothing to a user
        StringBuilder out = new StringBuilder();
        m.codePoints().limit(160).forEach(c -> out.appendCodePoint(c >= 0x20 && c != 0x7f ? c : ' '));
        return out.length() < m.length() ? out + "..." : out.toString();
    }

    /**
     * Reads and drops what is left of a refused upload (up to a bound), so the client, still sending, reads the
     * error instead of a connection reset; beyond the bound the connection is simply closed.
     */
    private static void drain(HttpExchange ex) {
        try {
            InputStream in = ex.getRequestBody();
            byte[] sink = new byte[1 << 16];
            long left = 4L * MAX_UPLOAD_BYTES;
            for (int r; left > 0 && (r = in.read(sink)) > 0; ) {
                left -= r;
            }
        } catch (IOException ignored) {
            // the client went away: nothing to answer
        }
    }

    private ObjectNode images(int offset, int limit) {
        ObjectNode out = JSON.createObjectNode();
        out.put("title", title);
        out.put("total", gallery.size());
        out.put("offset", offset);
        out.put("k", defaultK);
        out.put("dimension", gallery.index().dimension());
        ArrayNode classes = out.putArray("classes");
        gallery.classes().forEach(classes::add);
        ArrayNode list = out.putArray("images");
        for (int i = offset; i < Math.min(gallery.size(), (long) offset + limit); i++) {
            list.add(describe(gallery.items().get(i), null));
        }
        if (purity != null) {
            ObjectNode p = out.putObject("purity");
            p.put("k", purity.k());
            p.put("overall", purity.overall());
            ObjectNode per = p.putObject("classes");
            for (int c = 0; c < gallery.classes().size(); c++) {
                if (!Double.isNaN(purity.perClass()[c])) {
                    per.put(gallery.classes().get(c), purity.perClass()[c]);
                }
            }
        }
        return out;
    }

    private ObjectNode mapJson() {
        ObjectNode out = JSON.createObjectNode();
        out.put("method", "pca");
        ArrayNode xs = out.putArray("x");
        ArrayNode ys = out.putArray("y");
        ArrayNode labels = out.putArray("labels");
        for (int i = 0; i < gallery.size(); i++) {
            xs.add(Math.round(map[2 * i] * 1e4) / 1e4);
            ys.add(Math.round(map[2 * i + 1] * 1e4) / 1e4);
            labels.add(gallery.items().get(i).label());
        }
        return out;
    }

    private ArrayNode neighbors(List<Neighbor> found) {
        ArrayNode list = JSON.createArrayNode();
        for (Neighbor n : found) {
            list.add(describe(gallery.items().get(n.id()), n.score()));
        }
        return list;
    }

    private ObjectNode describe(Gallery.Item item, Float score) {
        ObjectNode o = JSON.createObjectNode();
        o.put("id", item.id());
        o.put("path", item.path());
        if (item.label() >= 0) {
            o.put("label", gallery.className(item.label()));
        } else {
            o.putNull("label");
        }
        if (score != null) {
            o.put("score", Math.round(score * 1e6) / 1e6);
        }
        return o;
    }

    private static String contentType(String path) {
        String p = path.toLowerCase(Locale.ROOT);
        if (p.endsWith(".png")) {
            return "image/png";
        }
        if (p.endsWith(".gif")) {
            return "image/gif";
        }
        if (p.endsWith(".bmp")) {
            return "image/bmp";
        }
        return "image/jpeg";
    }

    private static Map<String, String> query(URI uri) {
        Map<String, String> out = new HashMap<>();
        String raw = uri.getRawQuery();
        if (raw == null || raw.isEmpty()) {
            return out;
        }
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            String key = eq < 0 ? pair : pair.substring(0, eq);
            String value = eq < 0 ? "" : pair.substring(eq + 1);
            try {
                out.put(URLDecoder.decode(key, StandardCharsets.UTF_8), URLDecoder.decode(value, StandardCharsets.UTF_8));
            } catch (IllegalArgumentException e) {
                throw new HttpError(400, "the query string is not valid URL encoding");
            }
        }
        return out;
    }

    private static int intParam(Map<String, String> query, String name, int fallback, int min, int max) {
        String v = query.get(name);
        if (v == null) {
            return fallback;
        }
        if (!v.matches("\\d{1,9}") || Integer.parseInt(v) < min || Integer.parseInt(v) > max) {
            throw new HttpError(400, name + "=" + v + " is not valid; use a whole number in " + min + ".." + max);
        }
        return Integer.parseInt(v);
    }

    private static void sendJson(HttpExchange ex, ObjectNode body) throws IOException {
        send(ex, 200, "application/json; charset=utf-8", JSON.writeValueAsBytes(body), false);
    }

    private static void sendError(HttpExchange ex, int status, String message) throws IOException {
        ObjectNode o = JSON.createObjectNode();
        o.put("error", message);
        o.put("status", status);
        send(ex, status, "application/json; charset=utf-8", JSON.writeValueAsBytes(o), false);
    }

    private static void send(HttpExchange ex, int status, String type, byte[] body, boolean cacheable) throws IOException {
        var h = ex.getResponseHeaders();
        h.set("Content-Type", type);
        h.set("X-Content-Type-Options", "nosniff");
        h.set("X-Frame-Options", "DENY");
        h.set("Referrer-Policy", "no-referrer");
        h.set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; frame-ancestors 'none'");
        if (!cacheable) {
            h.set("Cache-Control", "no-store");
        }
        boolean head = ex.getRequestMethod().equals("HEAD");
        ex.sendResponseHeaders(status, head ? -1 : body.length == 0 ? -1 : body.length);
        if (!head && body.length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        }
    }

    /** An HTTP error with the one-line message the client sees. */
    private static final class HttpError extends RuntimeException {
        final int status;

        HttpError(int status, String message) {
            super(message, null, false, false);
            this.status = status;
        }
    }
}
