package io.moco4j;
import ai.djl.ndarray.*;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.*;
class SmokeTest {
  @Test void libtorchRuns() {
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray a = m.create(new float[]{1,2,3});
      assertEquals(14f, a.mul(a).sum().getFloat(), 1e-6);
      System.out.println(ai.djl.engine.Engine.getInstance().getEngineName()+" "+ai.djl.engine.Engine.getInstance().getVersion());
    }
  }
}
