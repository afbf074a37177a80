package io.moco4j.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * Issue 17 evidence: CLIENTS clients POST the images of a folder (round robin) to a running {@code serve}'s
 * {@code /api/search} for SECONDS seconds, each waiting for its answer before the next request. Prints requests/s,
 * latency p50/p99, status counts and failed requests. Not a unit test:
 * <pre>java -cp ... io.moco4j.bench.ServeLoadBenchmark http://127.0.0.1:PORT IMAGES_DIR CLIENTS SECONDS</pre>
 */
public final class ServeLoadBenchmark {
    public static void main(String[] args) throws Exception {
        String base = args[0];
        Path dir = Path.of(args[1]);
        int clients = Integer.parseInt(args[2]);
        long seconds = Long.parseLong(args[3]);
        List<byte[]> images = new ArrayList<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(p -> p.toString().endsWith(".jpg")).sorted().limit(2000).toList()) {
                images.add(Files.readAllBytes(p));
            }
        }
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).build();
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        List<Long> latencies = Collections.synchronizedList(new ArrayList<>());
        Map<String, Integer> outcomes = new ConcurrentHashMap<>();
        AtomicInteger next = new AtomicInteger();
        List<Thread> threads = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int c = 0; c < clients; c++) {
            Thread t = new Thread(() -> {
                while (System.nanoTime() < end) {
                    byte[] body = images.get(Math.floorMod(next.getAndIncrement(), images.size()));
                    long a = System.nanoTime();
                    String outcome;
                    try {
                        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/api/search?k=10"))
                                .timeout(Duration.ofSeconds(120)).POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                                HttpResponse.BodyHandlers.ofString());
                        outcome = Integer.toString(r.statusCode());
                    } catch (Exception e) {
                        outcome = e.getClass().getSimpleName();
                    }
                    latencies.add(System.nanoTime() - a);
                    outcomes.merge(outcome, 1, Integer::sum);
                }
            });
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        double wall = (System.nanoTime() - t0) / 1e9;
        long[] ns = latencies.stream().mapToLong(Long::longValue).toArray();
        int ok = outcomes.getOrDefault("200", 0);
        System.out.printf(Locale.ROOT, "%d clients, %.0f s: %d requests, %.1f requests/s, p50 %.0f ms, p99 %.0f ms, outcomes %s,"
                        + " not 200: %d, load %s%n", clients, wall, ns.length, ns.length / wall, IndexSearchBenchmark.pct(ns, 50),
                IndexSearchBenchmark.pct(ns, 99), new TreeMap<>(outcomes), ns.length - ok, IndexSearchBenchmark.load());
    }
}
