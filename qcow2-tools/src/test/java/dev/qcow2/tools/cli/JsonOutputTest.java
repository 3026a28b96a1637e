package dev.qcow2.tools.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

class JsonOutputTest {
  @Test
  void keysComeInQdictBucketOrder() {
    // Buckets observed in qemu-img 7.2 output: format-specific (354) before dirty-flag (501).
    assertEquals(309, JsonOutput.bucket("virtual-size"));
    assertEquals(501, JsonOutput.bucket("dirty-flag"));
    ObjectNode o = JsonOutput.object();
    o.put("filename", "a");
    o.put("dirty-flag", false);
    o.put("virtual-size", 1);
    assertEquals(
        "{\n    \"virtual-size\": 1,\n    \"filename\": \"a\",\n    \"dirty-flag\": false\n}",
        JsonOutput.pretty(o));
  }

  @Test
  void emptyContainersStillBreakTheLine() {
    ObjectNode o = JsonOutput.object();
    o.putArray("flags");
    assertEquals("{\n    \"flags\": [\n    ]\n}", JsonOutput.pretty(o));
  }

  @Test
  void stringsAreEscapedAsQemuDoes() {
    StringBuilder sb = new StringBuilder();
    JsonOutput.quote(sb, "a\"b\\c/\t\u0001é😀");
    assertEquals("\"a\\\"b\\\\c/\\t\\u0001\\u00E9\\uD83D\\uDE00\"", sb.toString());
  }
}
