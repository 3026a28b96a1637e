package dev.qcow2.crypto;

import java.util.Arrays;
import javax.security.auth.Destroyable;

/**
 * A change to the key slots of a LUKS header, under qemu-img amend's {@code encrypt.*} names:
 * {@code state=active} writes {@code new-secret} into key slot {@code keyslot} (or the first free
 * one), {@code state=inactive} erases key slot {@code keyslot} or every slot {@code old-secret}
 * opens. The options are checked when the change is made, with qemu's rules and messages, so any
 * combination can be built.
 *
 * <p>Passphrases are bytes, copied in and copied out; whoever takes a copy wipes it. {@link
 * #destroy} wipes the ones held here. Not thread-safe to destroy while in use.
 */
public final class LuksAmendOptions implements Destroyable {
  /** qemu's encrypt.state: what the change makes of the chosen key slots. */
  public enum State {
    /** Add a passphrase: a key slot holds the master key under {@code new-secret}. */
    ACTIVE,
    /** Erase key slots: their key material is overwritten and the slots marked off. */
    INACTIVE
  }

  private final State state;
  private final Integer keyslot;
  private final Long iterTimeMillis;
  private byte[] oldSecret;
  private byte[] newSecret;
  private boolean destroyed;

  private LuksAmendOptions(Builder b) {
    this.state = b.state;
    this.keyslot = b.keyslot;
    this.iterTimeMillis = b.iterTimeMillis;
    this.oldSecret = b.oldSecret;
    this.newSecret = b.newSecret;
    b.oldSecret = null;
    b.newSecret = null;
  }

  /**
   * A builder that sets nothing: a change without a state is refused when made, as qemu does.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * qemu's encrypt.state.
   *
   * @return what the chosen key slots become, or null if not given (then refused)
   */
  public State state() {
    return state;
  }

  /**
   * qemu's encrypt.keyslot: the one key slot to change.
   *
   * @return the slot number as given (0 to 7 are valid), or null to let the state choose: the first
   *     free slot to add, the slots {@code old-secret} opens to erase
   */
  public Integer keyslot() {
    return keyslot;
  }

  /**
   * qemu's encrypt.iter-time, for adding only.
   *
   * @return milliseconds of PBKDF2 the new passphrase should cost, or null for qemu's 2000
   */
  public Long iterTimeMillis() {
    return iterTimeMillis;
  }

  /**
   * qemu's encrypt.old-secret, for erasing only: the passphrase whose key slots are erased.
   *
   * @return a copy the caller wipes, or null if not given
   */
  public byte[] oldSecret() {
    return oldSecret == null ? null : oldSecret.clone();
  }

  /**
   * qemu's encrypt.new-secret, for adding only: the passphrase the new key slot opens with.
   *
   * @return a copy the caller wipes, or null if not given
   */
  public byte[] newSecret() {
    return newSecret == null ? null : newSecret.clone();
  }

  /** Wipes the passphrases held here; they read as not given afterwards. */
  @Override
  public void destroy() {
    wipe(oldSecret);
    wipe(newSecret);
    oldSecret = null;
    newSecret = null;
    destroyed = true;
  }

  /**
   * Whether {@link #destroy} was called.
   *
   * @return true once the passphrases are wiped
   */
  @Override
  public boolean isDestroyed() {
    return destroyed;
  }

  private static void wipe(byte[] b) {
    if (b != null) {
      Arrays.fill(b, (byte) 0);
    }
  }

  /** Collects a key slot change; not thread-safe. */
  public static final class Builder {
    private State state;
    private Integer keyslot;
    private Long iterTimeMillis;
    private byte[] oldSecret;
    private byte[] newSecret;

    private Builder() {}

    /**
     * Sets qemu's encrypt.state.
     *
     * @param state what the chosen key slots become
     * @return this builder
     */
    public Builder state(State state) {
      this.state = state;
      return this;
    }

    /**
     * Sets qemu's encrypt.keyslot; a number outside 0 to 7 is refused when the change is made.
     *
     * @param slot the key slot
     * @return this builder
     */
    public Builder keyslot(int slot) {
      this.keyslot = slot;
      return this;
    }

    /**
     * Sets qemu's encrypt.iter-time (0 gives qemu's least, 1000 iterations).
     *
     * @param millis milliseconds of PBKDF2, 0 or more
     * @return this builder
     * @throws IllegalArgumentException if {@code millis} is negative
     */
    public Builder iterTimeMillis(long millis) {
      if (millis < 0) {
        throw new IllegalArgumentException("iter-time must not be negative: " + millis);
      }
      this.iterTimeMillis = millis;
      return this;
    }

    /**
     * Sets qemu's encrypt.old-secret; a copy is kept, the caller wipes its own.
     *
     * @param passphrase the passphrase's bytes
     * @return this builder
     */
    public Builder oldSecret(byte[] passphrase) {
      wipe(oldSecret);
      this.oldSecret = passphrase.clone();
      return this;
    }

    /**
     * Sets qemu's encrypt.new-secret; a copy is kept, the caller wipes its own.
     *
     * @param passphrase the passphrase's bytes
     * @return this builder
     */
    public Builder newSecret(byte[] passphrase) {
      wipe(newSecret);
      this.newSecret = passphrase.clone();
      return this;
    }

    /**
     * The options collected, which take the passphrases over: the builder forgets them.
     *
     * @return new options
     */
    public LuksAmendOptions build() {
      return new LuksAmendOptions(this);
    }
  }
}
