package dev.qcow2.tools.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class OciReferenceTest {
  @Test
  void host_port_repository_and_tag_are_split() {
    OciReference r = OciReference.parse("oci://registry.example:5000/team/images:v1.2");
    assertEquals("registry.example:5000", r.registry());
    assertEquals("team/images", r.repository());
    assertEquals("v1.2", r.tag());
    assertEquals("registry.example", r.host());
    assertFalse(r.isLoopback());
    OciReference noTag = OciReference.parse("oci://localhost/a/b/c");
    assertNull(noTag.tag());
    assertEquals("a/b/c", noTag.repository());
    assertTrue(noTag.isLoopback());
    assertTrue(OciReference.parse("oci://127.0.0.1:9/x").isLoopback());
    assertTrue(OciReference.parse("oci://[::1]:9/x").isLoopback());
    assertEquals("oci://localhost/a/b/c:t", noTag.withTag("t").toString());
  }

  @Test
  void legal_tags_follow_the_distribution_grammar() {
    assertTrue(OciReference.isLegalTag("v1.0_rc-2"));
    assertTrue(OciReference.isLegalTag("_x"));
    assertTrue(OciReference.isLegalTag("a".repeat(128)));
    assertFalse(OciReference.isLegalTag("a".repeat(129)));
    assertFalse(OciReference.isLegalTag("base+1"));
    assertFalse(OciReference.isLegalTag("team/base"));
    assertFalse(OciReference.isLegalTag(".hidden"));
    assertFalse(OciReference.isLegalTag(""));
  }

  @Test
  void bad_references_name_what_is_wrong() {
    assertEquals(
        "'oci://host' names no repository (oci://HOST[:PORT]/NAMESPACE/REPO[:TAG])",
        assertThrows(IllegalArgumentException.class, () -> OciReference.parse("oci://host"))
            .getMessage());
    assertThrows(IllegalArgumentException.class, () -> OciReference.parse("oci://host/Upper/case"));
    assertThrows(
        IllegalArgumentException.class, () -> OciReference.parse("oci://host/ns/repo:bad+tag"));
    assertThrows(IllegalArgumentException.class, () -> OciReference.parse("docker://host/ns/repo"));
  }
}
