package io.moco4j.serve;

import io.moco4j.api.Encoder;
import io.moco4j.api.TinyEncoders;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/** A running server over a folder of generated scenes, embedded by a tiny random encoder. */
final class ServeFixture implements AutoCloseable {
    final Path folder;
    final List<Path> files;
    final Encoder encoder;
    final Gallery gallery;
    final GalleryServer server;
    final String checkpointHash;

    ServeFixture(Path tmp, int images, int k) throws IOException {
        folder = tmp.resolve("images");
        files = TinyEncoders.sceneFolder(folder, images, 11);
        Path ckpt = TinyEncoders.checkpoint(tmp, 7);
        encoder = Encoder.load(ckpt, Encoder.Options.defaults().withDevice("cpu").withBatchSize(8));
        checkpointHash = EmbeddingCache.sha256(ckpt);
        gallery = Gallery.open(folder, encoder, checkpointHash, new EmbeddingCache(tmp.resolve("cache")), (done, total) -> { });
        server = new GalleryServer(gallery, encoder, "127.0.0.1", 0, k, "test");
        server.start();
    }

    String base() {
        return "http://127.0.0.1:" + server.port();
    }

    /** A raw HTTP/1.1 request line sent as is (no client-side path normalisation), returning status and body. */
    Response raw(String method, String target, String host, byte[] body) throws IOException {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(20_000);
            OutputStream out = s.getOutputStream();
            StringBuilder req = new StringBuilder(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n");
            if (body != null) {
                req.append("Content-Length: ").append(body.length).append("\r\nContent-Type: application/octet-stream\r\n");
            }
            req.append("\r\n");
            out.write(req.toString().getBytes(StandardCharsets.ISO_8859_1));
            if (body != null) {
                out.write(body);
            }
            out.flush();
            InputStream in = s.getInputStream();
            String all = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
            int status = Integer.parseInt(all.substring(9, 12));
            int split = all.indexOf("\r\n\r\n");
            return new Response(status, all.substring(0, split), all.substring(split + 4));
        }
    }

    record Response(int status, String headers, String body) {}

    @Override
    public void close() {
        server.close();
        encoder.close();
    }
}
