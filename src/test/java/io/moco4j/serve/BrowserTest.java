package io.moco4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;

/** The page in a real browser: clicking an image shows exactly the neighbours the API returns. */
class BrowserTest {
    @TempDir
    Path tmp;

    @Test
    void clickingAnImageShowsTheApisNeighbours() throws Exception {
        String missing = HeadlessChromium.missing();
        Assumptions.assumeTrue(missing == null, "browser test skipped: " + missing);
        try (ServeFixture f = new ServeFixture(tmp, 30, 6); HeadlessChromium chrome = new HeadlessChromium(1400, 1000)) {
            chrome.driver.get(f.base() + "/");
            HeadlessChromium.waitFor("the grid", 30, () -> "true".equals(chrome.driver.findElement(By.tagName("body")).getAttribute("data-ready")));
            assertEquals(30, chrome.driver.findElements(By.cssSelector("#grid .cell")).size());

            int id = 17;
            chrome.driver.findElement(By.cssSelector("#grid .cell[data-id='" + id + "'] img")).click();
            HeadlessChromium.waitFor("the neighbours of " + id, 30,
                    () -> String.valueOf(id).equals(chrome.driver.findElement(By.id("neighbors")).getAttribute("data-query")));
            List<Integer> shown = new ArrayList<>();
            List<Double> scores = new ArrayList<>();
            for (WebElement n : chrome.driver.findElements(By.cssSelector("#neighbors .neighbor"))) {
                shown.add(Integer.parseInt(n.getAttribute("data-id")));
                scores.add(Double.parseDouble(n.getAttribute("data-score")));
            }
            String json = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(f.base() + "/api/neighbors/" + id + "?k=6")).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            JsonNode api = new ObjectMapper().readTree(json).get("neighbors");
            List<Integer> expected = new ArrayList<>();
            for (JsonNode n : api) {
                expected.add(n.get("id").asInt());
            }
            assertEquals(6, expected.size());
            assertEquals(expected, shown, "neighbours shown on the page");
            for (int i = 0; i < scores.size(); i++) {
                assertEquals(api.get(i).get("score").asDouble(), scores.get(i), 1e-9);
            }
            Path shot = Path.of("target/serve-browser.png");
            chrome.screenshot(shot);
            assertTrue(Files.size(shot) > 1000);

            // Clicking a neighbour follows it.
            int next = shown.get(0);
            chrome.driver.findElement(By.cssSelector("#neighbors .neighbor[data-id='" + next + "'] img")).click();
            HeadlessChromium.waitFor("the neighbours of " + next, 30,
                    () -> String.valueOf(next).equals(chrome.driver.findElement(By.id("neighbors")).getAttribute("data-query")));

            chrome.driver.findElement(By.id("tab-map")).click();
            HeadlessChromium.waitFor("the map", 30, () -> chrome.driver.findElement(By.id("map")).isDisplayed());
            chrome.screenshot(Path.of("target/serve-browser-map.png"));
        }
    }
}
