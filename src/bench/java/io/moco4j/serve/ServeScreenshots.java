package io.moco4j.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.api.Encoder;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.openqa.selenium.By;

/**
 * Takes the README/docs screenshots of the serve page: the grid with one image's neighbours, and the map. Not a
 * unit test: {@code java -cp ... io.moco4j.serve.ServeScreenshots CKPT IMAGE_DIR OUT_PAGE.png OUT_MAP.png}.
 * The query shown is a typical one: among every 25th image, one whose count of same-class neighbours is the median.
 */
public final class ServeScreenshots {
    public static void main(String[] args) throws Exception {
        Path ckpt = Path.of(args[0]);
        Encoder.Options o = Encoder.Options.defaults().withDevice("cpu").withBatchSize(256);
        long t0 = System.nanoTime();
        try (Encoder encoder = Encoder.load(ckpt, o)) {
            Gallery gallery = Gallery.open(Path.of(args[1]), encoder, EmbeddingCache.sha256(ckpt),
                    new EmbeddingCache(EmbeddingCache.besideRun(ckpt)), (done, total) -> { });
            long t1 = System.nanoTime();
            try (GalleryServer server = new GalleryServer(gallery, encoder, "127.0.0.1", 0, 12,
                    gallery.root().getFileName() + " with " + ckpt.getFileName())) {
                long t2 = System.nanoTime();
                System.out.printf("gallery %.1f s (embedding or cache), purity + map %.1f s%n", (t1 - t0) / 1e9, (t2 - t1) / 1e9);
                server.start();
                String base = "http://127.0.0.1:" + server.port();
                int best = typicalQuery(base, gallery.size());
                try (HeadlessChromium chrome = new HeadlessChromium(1400, 1150)) {
                    chrome.driver.get(base + "/");
                    HeadlessChromium.waitFor("the grid", 60, () -> "true".equals(chrome.driver.findElement(By.tagName("body")).getAttribute("data-ready")));
                    for (int page = 0; page < best / 200; page++) {
                        chrome.driver.findElement(By.id("next")).click();
                        int want = page + 2;
                        HeadlessChromium.waitFor("page " + want, 60,
                                () -> chrome.driver.findElement(By.id("page-info")).getText().startsWith("page " + want + " "));
                    }
                    chrome.driver.findElement(By.cssSelector("#grid .cell[data-id='" + best + "'] img")).click();
                    HeadlessChromium.waitFor("neighbours", 60,
                            () -> String.valueOf(best).equals(chrome.driver.findElement(By.id("neighbors")).getAttribute("data-query")));
                    chrome.driver.executeScript("window.scrollTo(0, 0)");
                    HeadlessChromium.waitFor("the visible images", 120, () -> Boolean.TRUE.equals(chrome.driver.executeScript(
                            "return Array.from(document.images).filter(i => { const r = i.getBoundingClientRect();"
                                    + " return r.bottom > 0 && r.top < innerHeight; }).every(i => i.complete && i.naturalWidth > 0);")));
                    chrome.screenshot(Path.of(args[2]));
                    chrome.driver.findElement(By.id("tab-map")).click();
                    HeadlessChromium.waitFor("the map thumbnails", 300, () -> {
                        String t = chrome.driver.findElement(By.tagName("body")).getAttribute("data-map-thumbs");
                        return t != null && t.split("/")[0].equals(t.split("/")[1]);
                    });
                    Thread.sleep(500);
                    chrome.screenshot(Path.of(args[3]));
                }
            }
        }
    }

    private static int typicalQuery(String base, int n) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        ObjectMapper json = new ObjectMapper();
        java.util.List<int[]> counted = new java.util.ArrayList<>();
        for (int id = 0; id < n; id += 25) {
            JsonNode r = json.readTree(http.send(HttpRequest.newBuilder(URI.create(base + "/api/neighbors/" + id)).build(),
                    HttpResponse.BodyHandlers.ofString()).body());
            int same = 0;
            for (JsonNode nb : r.get("neighbors")) {
                same += nb.get("label").asText().equals(r.get("query").get("label").asText()) ? 1 : 0;
            }
            counted.add(new int[] {same, id});
        }
        counted.sort(java.util.Comparator.comparingInt((int[] c) -> c[0]).thenComparingInt(c -> c[1]));
        int[] median = counted.get(counted.size() / 2);
        System.out.println("query image " + median[1] + " (" + median[0] + " of 12 neighbours of its class, the median of "
                + counted.size() + " sampled images)");
        return median[1];
    }
}
