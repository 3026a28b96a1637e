package dev.qcow2.tools.img;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.crypto.LuksInfo;
import dev.qcow2.tools.cli.JsonOutput;

/**
 * The "encrypt" member of qemu-img info's qcow2 data: QAPI's QCryptoBlockInfoLUKS, keys added in
 * the schema's order (the "format" discriminator first) for {@link JsonOutput} to print in qemu's
 * hash order. qemu shows a slot's iterations and stripes only while it is active.
 */
final class EncryptInfoJson {
  private EncryptInfoJson() {}

  static ObjectNode of(LuksInfo luks) {
    ObjectNode o = JsonOutput.object();
    o.put("format", "luks");
    o.put("cipher-alg", luks.cipherAlg());
    o.put("cipher-mode", luks.cipherMode());
    o.put("ivgen-alg", luks.ivgenAlg());
    if (luks.ivgenHashAlg() != null) {
      o.put("ivgen-hash-alg", luks.ivgenHashAlg());
    }
    o.put("hash-alg", luks.hashAlg());
    o.put("payload-offset", luks.payloadOffset());
    o.put("master-key-iters", luks.masterKeyIters());
    o.put("uuid", luks.uuid());
    ArrayNode slots = o.putArray("slots");
    for (LuksInfo.Slot s : luks.slots()) {
      ObjectNode so = slots.addObject();
      so.put("active", s.active());
      if (s.active()) {
        so.put("iters", s.iters());
        so.put("stripes", s.stripes());
      }
      so.put("key-offset", s.keyOffset());
    }
    return o;
  }
}
